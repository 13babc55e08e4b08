//! The dashboard's own server with real sockets: the page's headers, the Host check against DNS
//! rebinding, and JSON errors for wrong methods.

use botify_dashboard::DashboardServer;
use std::io::{Read, Write};
use std::time::Duration;

fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn get(addr: std::net::SocketAddr, method: &str, path: &str, host: &str) -> String {
    exchange(
        addr,
        &format!(
            "{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
    )
}

#[test]
fn the_page_cannot_be_framed_and_only_ip_or_localhost_hosts_are_answered() {
    let server = DashboardServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.addr;
    let page = get(addr, "GET", "/dashboard", &addr.to_string()).to_ascii_lowercase();
    assert!(page.starts_with("http/1.1 200"), "{page:.200}");
    assert!(page.contains("x-frame-options: deny"));
    assert!(page.contains("content-security-policy: default-src 'none'"));
    assert!(page.contains("frame-ancestors 'none'"));
    for host in ["localhost:5002", "127.0.0.1", "[::1]:5002", "LOCALHOST"] {
        let r = get(addr, "GET", "/api/live", host);
        assert!(r.starts_with("HTTP/1.1 200"), "{host}: {r:.200}");
    }
    for host in ["evil.example:5002", "attacker.test", "", "[not-an-ip]"] {
        let r = get(addr, "GET", "/api/live", host);
        assert!(r.starts_with("HTTP/1.1 403"), "{host}: {r:.200}");
        assert!(r.contains("is not this dashboard's"), "{r}");
    }
}

#[test]
fn a_wrong_method_gets_a_json_405() {
    let server = DashboardServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let r = get(server.addr, "POST", "/api/live", "127.0.0.1");
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    let body = r.split_once("\r\n\r\n").unwrap().1;
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["status"], 405);
    assert!(v["error"].as_str().unwrap().contains("use GET"), "{v}");
}
