//! A minimal HTTP/1.1 client for load generation: one keep-alive connection,
//! a prepared request written in one call, the answer read by its
//! Content-Length. It costs a fraction of a full client's CPU, which on a
//! two-core machine would otherwise be taken from the server measured.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Http1 {
    stream: BufReader<TcpStream>,
    line: String,
    body: Vec<u8>,
}

impl Http1 {
    pub async fn connect(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// A GET with the given headers (each `Name: value`).
    pub fn get(path: &str, headers: &[String]) -> Vec<u8> {
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for h in headers {
            request.push_str(h);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.into_bytes()
    }

    /// A POST with the given headers (each `Name: value`) and body.
    pub fn post(path: &str, headers: &[String], body: &[u8]) -> Vec<u8> {
        let mut request = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for h in headers {
            request.push_str(h);
            request.push_str("\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    /// Sends `request` and reads the whole answer; returns its status code.
    pub async fn send(&mut self, request: &[u8]) -> std::io::Result<u16> {
        let broken =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        self.stream.get_mut().write_all(request).await?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await?;
        let status = self
            .line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| broken("no status line"))?;
        let mut length = 0usize;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                return Err(broken("connection closed"));
            }
            let header = self.line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(|_| broken("bad length"))?;
                }
            }
        }
        self.body.resize(length, 0);
        self.stream.read_exact(&mut self.body).await?;
        Ok(status)
    }
}
