//! `khc-netprobe`: the echo server and the prober of the real-dataplane tests
//! (`tests/dataplane.rs`), run inside each "pod" network namespace. Only std.
//!
//! * `khc-netprobe serve NAME ADDR… -- TCP_PORT… -- UDP_PORT…`: answers every TCP
//!   connection on each TCP port with `NAME\n`, and every UDP datagram on each UDP
//!   port with `NAME\n` — from one socket per local address (ADDR…), so a reply
//!   leaves from the address the request was sent to. Prints `ready` once every
//!   socket is bound, then serves until killed.
//! * `khc-netprobe probe [THREADS [SECONDS]]`: reads `ID PROTO IP PORT` lines on stdin, tries
//!   each one (THREADS at a time, default 32; fresh sockets, SECONDS to wait, default 2) and prints `ID ok NAME`,
//!   `ID refused` or `ID timeout` (and `ID error WHY`) per line.

use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("probe") => {
            let threads = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(32);
            let timeout = Duration::from_secs(args.get(2).and_then(|n| n.parse().ok()).unwrap_or(2));
            probe(threads, timeout)
        }
        _ => {
            eprintln!("usage: khc-netprobe serve NAME ADDR… -- TCP_PORT… -- UDP_PORT… | khc-netprobe probe [THREADS [SECONDS]]");
            std::process::exit(2);
        }
    }
}

fn serve(args: &[String]) {
    let name = args.first().expect("NAME").clone();
    let mut parts = args[1..].split(|a| a == "--");
    let addrs: Vec<IpAddr> = parts.next().unwrap_or_default().iter().map(|a| a.parse().expect("an IP address")).collect();
    let ports = |p: Option<&[String]>| -> Vec<u16> { p.unwrap_or_default().iter().map(|p| p.parse().expect("a port")).collect() };
    let tcp = ports(parts.next());
    let udp = ports(parts.next());
    let reply = format!("{name}\n");
    let mut threads = Vec::new();
    for port in tcp {
        let listener = TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|e| panic!("bind TCP {port}: {e}"));
        let reply = reply.clone();
        threads.push(std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut conn = conn;
                let _ = conn.write_all(reply.as_bytes());
            }
        }));
    }
    for port in udp {
        for addr in &addrs {
            let socket = UdpSocket::bind((*addr, port)).unwrap_or_else(|e| panic!("bind UDP {addr}:{port}: {e}"));
            let reply = reply.clone();
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while let Ok((_, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(reply.as_bytes(), from);
                }
            }));
        }
    }
    println!("ready");
    std::io::stdout().flush().expect("stdout");
    for t in threads {
        let _ = t.join();
    }
}

/// The outcome of one probe.
fn try_one(proto: &str, ip: IpAddr, port: u16, timeout: Duration) -> String {
    let to = SocketAddr::new(ip, port);
    let classify = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "refused".to_string(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timeout".to_string(),
        _ if e.raw_os_error() == Some(113) => "refused".to_string(), // EHOSTUNREACH (icmp-host-prohibited)
        _ => format!("error {e}"),
    };
    match proto {
        "TCP" => match TcpStream::connect_timeout(&to, timeout) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(timeout));
                let mut got = String::new();
                match s.read_to_string(&mut got) {
                    Ok(_) => format!("ok {}", got.trim()),
                    Err(e) => classify(e),
                }
            }
            Err(e) => classify(e),
        },
        "UDP" => {
            let bind: SocketAddr = if ip.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
            let s = match UdpSocket::bind(bind) {
                Ok(s) => s,
                Err(e) => return format!("error {e}"),
            };
            // Connected: an ICMP port-unreachable (kube-router's REJECT) is then
            // reported as ECONNREFUSED by the next receive.
            if let Err(e) = s.connect(to) {
                return classify(e);
            }
            let _ = s.set_read_timeout(Some(timeout));
            if let Err(e) = s.send(b"?") {
                return classify(e);
            }
            let mut buf = [0u8; 256];
            match s.recv(&mut buf) {
                Ok(n) => format!("ok {}", String::from_utf8_lossy(&buf[..n]).trim()),
                Err(e) => classify(e),
            }
        }
        other => format!("error unknown protocol {other}"),
    }
}

fn probe(threads: usize, timeout: Duration) {
    let lines: Vec<String> = std::io::stdin().lock().lines().map_while(Result::ok).filter(|l| !l.trim().is_empty()).collect();
    let jobs: Vec<(String, String, IpAddr, u16)> = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 4, "a probe line is `ID PROTO IP PORT`: {l}");
            (f[0].to_string(), f[1].to_string(), f[2].parse().expect("an IP address"), f[3].parse().expect("a port"))
        })
        .collect();
    let (tx, rx) = mpsc::channel();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(jobs.into_iter()));
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (tx, queue) = (tx.clone(), queue.clone());
            std::thread::spawn(move || loop {
                let job = queue.lock().expect("queue").next();
                let Some((id, proto, ip, port)) = job else { break };
                let _ = tx.send(format!("{id} {}", try_one(&proto, ip, port, timeout)));
            })
        })
        .collect();
    drop(tx);
    let mut out = std::io::stdout().lock();
    for line in rx {
        let _ = writeln!(out, "{line}");
    }
    for w in workers {
        let _ = w.join();
    }
}
