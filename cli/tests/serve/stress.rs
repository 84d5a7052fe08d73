//! Many clients at once.

use std::sync::Arc;

use hyper::StatusCode;

use crate::client::{http, runtime, send};
use crate::{pattern, Server};

/// Lets this process open as many sockets as its hard limit allows.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

#[test]
fn a_thousand_concurrent_range_requests_all_succeed() {
    raise_fd_limit();
    let server = Server::start(&[]);
    let blob = Arc::new(pattern(1 << 20, 0));
    let url = Arc::new(server.url("/files/blob.bin"));
    let rt = runtime();
    let failures = rt.block_on(async {
        // One client per request: a thousand connections open at once, not a pool reused.
        let tasks: Vec<_> = (0..1000u64)
            .map(|i| {
                let (blob, url) = (Arc::clone(&blob), Arc::clone(&url));
                tokio::spawn(async move {
                    let start = (i * 7919 * 4096) % ((1 << 20) - 4096);
                    let range = format!("bytes={start}-{}", start + 4095);
                    let reply = send(&http(), "GET", &url, &[("range", &range)]).await;
                    let start = start as usize;
                    reply.status == StatusCode::PARTIAL_CONTENT
                        && reply.body == blob[start..start + 4096]
                })
            })
            .collect();
        let mut failures = 0;
        for task in tasks {
            if !task.await.unwrap_or(false) {
                failures += 1;
            }
        }
        failures
    });
    assert_eq!(failures, 0, "of 1000 concurrent range requests");
    let stats = rt.block_on(async { send(&http(), "GET", &server.url("/cache/stats"), &[]).await });
    let stats: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert!(
        stats["requests"]["partial"].as_u64().unwrap() >= 1000,
        "{stats}"
    );
    assert_eq!(stats["requests"]["server_error"], 0);
}
