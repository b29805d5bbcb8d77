//! `sluice connect-latency`: a benchmark client that opens TCP connections
//! one after another to an address and prints the median and p99 time of
//! `connect()` in microseconds (what service translation adds is in it).

use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub fn run(to: SocketAddr, count: usize) -> ExitCode {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        match TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
            Ok(s) => {
                times.push(started.elapsed().as_secs_f64() * 1e6);
                drop(s);
            }
            Err(e) => {
                eprintln!("sluice connect-latency: {to}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!("{:.1} {:.1}", at(0.5), at(0.99));
    ExitCode::SUCCESS
}
