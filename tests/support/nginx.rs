//! A real nginx as a backend: it normalises paths as most web servers do
//! (decodes `%XX`, `%2F` included, resolves dot segments, merges slashes), so
//! a test sees what a backend makes of the path the gateway forwards.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::free_port;

/// A running nginx; stopped and its directory removed when dropped.
pub struct Nginx {
    pub addr: SocketAddr,
    child: Child,
    dir: std::path::PathBuf,
}

impl Nginx {
    /// Starts nginx with `server` (the body of one `server { … }` block,
    /// without `listen`) on a free loopback port.
    pub async fn start(server: &str) -> Nginx {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sockgate-nginx-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for attempt in 0..5 {
            let port = free_port();
            let conf = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\n\
                 error_log {d}/error.log;\npid {d}/nginx.pid;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  \
                 proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n  \
                 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
                 server {{\n    listen 127.0.0.1:{port};\n{server}\n  }}\n}}\n",
                d = dir.display()
            );
            let path = dir.join("nginx.conf");
            std::fs::write(&path, conf).unwrap();
            let child = Command::new(nginx_bin())
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nginx is installed (apt-get install nginx-light)");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut nginx = Nginx {
                addr,
                child,
                dir: dir.clone(),
            };
            for _ in 0..100 {
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    return nginx;
                }
                if nginx.child.try_wait().unwrap().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = nginx.child.kill();
            let _ = nginx.child.wait();
            eprintln!("nginx did not start on port {port} (attempt {attempt})");
        }
        panic!("nginx did not start; see {}/error.log", dir.display());
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn nginx_bin() -> &'static str {
    if std::path::Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
