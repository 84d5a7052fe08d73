//! Helpers shared by weightmap's integration tests: locating the reference Python tooling and fixtures.
