//! Headless Chromium (Debian's `chromium`), driven over the DevTools
//! protocol: one page, JavaScript evaluated in it, and every console error,
//! exception and failed load it reports collected.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::{PATIENCE, Ws};

/// A browser with one page open.
pub struct Browser {
    child: Child,
    ws: Ws,
    session: String,
    next: u64,
    /// Console errors, exceptions and failed loads, as reported.
    pub errors: Vec<String>,
    _profile: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    /// Starts Chromium headless and opens a blank page.
    pub async fn launch() -> Browser {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile =
            std::env::temp_dir().join(format!("sockgate-chromium-{}-{n}", std::process::id()));
        let mut child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--remote-debugging-port=0", "about:blank"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium runs (Debian's chromium; .ci/run installs it)");
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let url = stderr
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("DevTools listening on ").map(str::to_owned))
            .expect("chromium prints its DevTools address");
        let (ws, _) = tokio_tungstenite::connect_async(url.trim()).await.unwrap();
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next: 0,
            errors: Vec::new(),
            _profile: TempDir(profile),
        };
        let target = b
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attach = json!({"targetId": target["targetId"], "flatten": true});
        let attached = b.call("Target.attachToTarget", attach).await;
        b.session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            b.call(domain, json!({})).await;
        }
        b
    }

    /// Sends a command (to the page once attached) and returns its result;
    /// events read meanwhile are looked at for errors.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("the browser answers in time")
                .expect("the DevTools connection is open")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
            self.look_at(&v);
        }
    }

    fn look_at(&mut self, event: &Value) {
        let p = &event["params"];
        match event["method"].as_str() {
            Some("Runtime.exceptionThrown") => self.errors.push(p["exceptionDetails"].to_string()),
            Some("Runtime.consoleAPICalled") if p["type"] == "error" => {
                self.errors.push(p["args"].to_string())
            }
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => {
                self.errors.push(p["entry"].to_string())
            }
            _ => {}
        }
    }

    /// Opens `url` and waits until it has loaded (navigating returns as the
    /// page starts loading).
    pub async fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
        self.until(&format!(
            "location.href === '{url}' && document.readyState === 'complete'"
        ))
        .await;
    }

    /// Evaluates `expr` in the page; its value (an exception fails the test).
    pub async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true}),
            )
            .await;
        assert!(r["exceptionDetails"].is_null(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is true in the page. Until then it may also throw
    /// (the page may still be loading: its elements are not there yet).
    pub async fn until(&mut self, expr: &str) {
        let deadline = sockgate::clock::now() + PATIENCE;
        let guarded =
            format!("(() => {{ try {{ return ({expr}); }} catch (_) {{ return false; }} }})()");
        while self.eval(&guarded).await != json!(true) {
            assert!(sockgate::clock::now() < deadline, "never true: {expr}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The page as a PNG.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine as _;
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
