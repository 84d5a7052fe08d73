fn main() {
    let path = std::env::args().nth(1).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..2000 {
        let g = weightmap_native::ModelSource::open(&path).unwrap();
        std::hint::black_box(g.tensor_count());
    }
    println!("{:.3} ms", t.elapsed().as_secs_f64() * 1e3 / 2000.0);
}
