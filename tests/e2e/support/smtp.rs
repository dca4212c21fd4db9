//! A small but real SMTP server on loopback: EHLO, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA
//! (with dot-unstuffing), RSET, NOOP, QUIT. It stores what it receives for the tests to read.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Default)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The login used, as (user, password), if the client authenticated.
    pub auth: Option<(String, String)>,
    pub data: Vec<u8>,
}

pub struct SmtpServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

/// How the server answers AUTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logins {
    Accept,
    /// Refuses every login permanently, quoting what the client sent, as some servers do.
    RefuseQuoting,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        SmtpServer::start_with(Logins::Accept).await
    }

    /// A server that refuses every login with a 535 that quotes the client's credentials.
    pub async fn start_refusing_logins() -> SmtpServer {
        SmtpServer::start_with(Logins::RefuseQuoting).await
    }

    async fn start_with(logins: Logins) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(socket, store, logins).await;
                });
            }
        });
        SmtpServer { addr, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let ok = super::wait_until(Duration::from_secs(20), || self.received().len() >= n).await;
        assert!(ok, "expected {n} emails, got {}", self.received().len());
        self.received()
    }
}

async fn session(
    socket: TcpStream,
    store: Arc<Mutex<Vec<Received>>>,
    logins: Logins,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 localhost ESMTP herald-test\r\n")
        .await?;
    let mut current = Received::default();
    let mut auth = None;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
        } else if upper.starts_with("HELO") {
            "250 localhost\r\n".into()
        } else if upper.starts_with("AUTH PLAIN") {
            let initial = command.split_whitespace().nth(2).map(str::to_string);
            let encoded = match initial {
                Some(i) => i,
                None => {
                    write.write_all(b"334 \r\n").await?;
                    let mut l = String::new();
                    lines.read_line(&mut l).await?;
                    l.trim().to_string()
                }
            };
            if logins == Logins::RefuseQuoting {
                let reply = format!("535 5.7.8 Authentication failed: {encoded} rejected\r\n");
                write.write_all(reply.as_bytes()).await?;
                continue;
            }
            let decoded = STANDARD.decode(encoded).unwrap_or_default();
            let parts: Vec<String> = decoded
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            auth = Some((
                parts.get(1).cloned().unwrap_or_default(),
                parts.get(2).cloned().unwrap_or_default(),
            ));
            "235 2.7.0 Authentication successful\r\n".into()
        } else if upper.starts_with("AUTH LOGIN") {
            let mut answers = Vec::new();
            for prompt in ["VXNlcm5hbWU6", "UGFzc3dvcmQ6"] {
                write
                    .write_all(format!("334 {prompt}\r\n").as_bytes())
                    .await?;
                let mut l = String::new();
                lines.read_line(&mut l).await?;
                answers.push(
                    String::from_utf8_lossy(&STANDARD.decode(l.trim()).unwrap_or_default())
                        .into_owned(),
                );
            }
            auth = Some((answers[0].clone(), answers[1].clone()));
            "235 2.7.0 Authentication successful\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            current = Received {
                mail_from: command[10..].trim().to_string(),
                auth: auth.clone(),
                ..Received::default()
            };
            "250 2.1.0 Ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            current.rcpt_to.push(command[8..].trim().to_string());
            "250 2.1.5 Ok\r\n".into()
        } else if upper == "DATA" {
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = Vec::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l).await? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                let l = l.strip_prefix('.').map(str::to_string).unwrap_or(l);
                data.extend_from_slice(l.as_bytes());
            }
            current.data = data;
            store.lock().unwrap().push(std::mem::take(&mut current));
            "250 2.0.0 Ok: queued\r\n".into()
        } else if upper == "RSET" || upper == "NOOP" {
            "250 2.0.0 Ok\r\n".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 Command not recognized\r\n".into()
        };
        write.write_all(reply.as_bytes()).await?;
    }
}
