//! The demo page of the built-in config, in a real browser (headless
//! Chromium over the DevTools protocol): it loads with no console error,
//! connects, shows its connection id, sends and shows the echo, shows a push
//! made with @connections and a group send after joining the lobby, and
//! shows the close when the connection is deleted.
//!
//! With compression on, Chromium agrees permessage-deflate and a large
//! message round-trips compressed both ways.
//!
//! The dashboard too: it loads with no console error (its content security
//! policy's refusals would be errors), its figures are `/metrics`'s, its
//! plots draw, and a connection is looked up, sent a message and
//! disconnected from it; a group shows with its member.
//!
//! With `SOCKGATE_SCREENSHOT_DIR` set, the pages are saved there as
//! `demo-page.png` and `dashboard.png` (how `docs/` got them; the dashboard
//! test then sends traffic for a minute first, so its plots have a shape).

mod support;

use support::browser::Browser;
use support::*;

/// The text of the page's message log.
const LOG: &str = "document.getElementById('log').textContent";

#[tokio::test]
async fn the_demo_page_chats_through_the_gateway_in_a_real_browser() {
    let gw = Gw::start(sockgate::config::DEFAULT_CONFIG).await;
    let mut browser = Browser::launch().await;
    browser.open(&format!("http://{}/dev/", gw.public)).await;

    // Connected: the whoami reply gave the page its id.
    browser
        .until("document.getElementById('id').textContent.length === 16")
        .await;
    let id = browser
        .eval("document.getElementById('id').textContent")
        .await;
    let id = id.as_str().unwrap().to_owned();
    assert_eq!(
        browser
            .eval("document.getElementById('status').textContent")
            .await,
        "open"
    );
    let push_hint = browser
        .eval("document.getElementById('push').textContent")
        .await;
    assert!(
        push_hint
            .as_str()
            .unwrap()
            .ends_with(&format!("/dev/@connections/{id}"))
    );

    // Typed and sent: the echo route's reply is shown.
    browser
        .eval("document.getElementById('text').value = 'from the browser'; document.getElementById('send').requestSubmit(); true")
        .await;
    browser
        .until(&format!(
            "{LOG}.includes('< {{\"action\":\"echo\",\"text\":\"from the browser\"}}')"
        ))
        .await;

    // A push through @connections, as the page's curl line says.
    let (status, _, _) = http(
        "POST",
        &gw.connections_url("dev", &id),
        b"pushed with curl".to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    browser
        .until(&format!("{LOG}.includes('< pushed with curl')"))
        .await;

    // Join the lobby, then a group send reaches the page.
    browser
        .eval("document.getElementById('join').click(); true")
        .await;
    browser.until(&format!("{LOG}.includes('joined')")).await;
    let group = format!("http://{}/dev/@groups/lobby", gw.mgmt);
    let (status, _, body) = http("POST", &group, b"hello, lobby".to_vec()).await;
    assert_eq!(status, 200, "{body:?}");
    browser
        .until(&format!("{LOG}.includes('< hello, lobby')"))
        .await;

    if let Ok(dir) = std::env::var("SOCKGATE_SCREENSHOT_DIR") {
        let size = serde_json::json!({"width": 800, "height": 660, "deviceScaleFactor": 1, "mobile": false});
        browser
            .call("Emulation.setDeviceMetricsOverride", size)
            .await;
        let png = browser.screenshot().await;
        std::fs::write(std::path::Path::new(&dir).join("demo-page.png"), png).unwrap();
    }

    // Deleted through @connections: the page shows the close.
    let (status, _, _) = http("DELETE", &gw.connections_url("dev", &id), vec![]).await;
    assert_eq!(status, 204);
    browser
        .until("document.getElementById('status').textContent === 'closed (1000)'")
        .await;
    assert!(
        browser.errors.is_empty(),
        "console errors: {:?}",
        browser.errors
    );
}

/// The value behind a dashboard figure.
async fn figure(browser: &mut Browser, id: &str) -> f64 {
    let v = browser
        .eval(&format!(
            "Number(document.getElementById('{id}').dataset.value)"
        ))
        .await;
    v.as_f64().unwrap()
}

#[tokio::test]
async fn the_dashboard_shows_the_node_and_acts_on_a_connection_in_a_real_browser() {
    let gw = Gw::start(sockgate::config::DEFAULT_CONFIG).await;
    let (mut ws, id) = connected(&gw.url("dev")).await;
    let (mut other, _) = connected(&gw.url("dev")).await;
    send_text(&mut other, r#"{"action":"join"}"#).await;
    recv_text(&mut other).await;
    for i in 0..10 {
        send_text(&mut ws, &format!(r#"{{"action":"echo","text":"{i}"}}"#)).await;
        recv_text(&mut ws).await;
    }
    let shots = std::env::var("SOCKGATE_SCREENSHOT_DIR").ok();
    let mut browser = Browser::launch().await;
    let size =
        serde_json::json!({"width": 1280, "height": 1780, "deviceScaleFactor": 1, "mobile": false});
    browser
        .call("Emulation.setDeviceMetricsOverride", size)
        .await;
    browser
        .open(&format!("http://{}/@dashboard/", gw.mgmt))
        .await;
    browser
        .until("document.getElementById('live').textContent === 'live'")
        .await;

    // Its figures are /metrics's: nothing moves now, so within one sample
    // they are equal.
    browser
        .until("document.getElementById('total-connections').dataset.value === '2'")
        .await;
    browser
        .until("Number(document.getElementById('total-messages-in').dataset.value) >= 13")
        .await;
    let text = gw.metrics_text().await;
    assert_eq!(
        figure(&mut browser, "total-connections").await,
        metric(&text, "sockgate_connections_open", &["stage=\"dev\""])
    );
    let messages_in: f64 = ["echo", "whoami", "join"]
        .iter()
        .map(|r| {
            let route = format!("route=\"{r}\"");
            metric(
                &text,
                "sockgate_messages_total",
                &[&route, "direction=\"in\""],
            )
        })
        .sum();
    assert_eq!(figure(&mut browser, "total-messages-in").await, messages_in);
    assert_eq!(
        browser
            .eval("document.getElementById('node').textContent")
            .await,
        gw.gateway.delivery().node().to_string().as_str()
    );

    // The plots draw: points placed, and pixels of a line on the canvas.
    browser
        .until("Number(document.getElementById('plot-connections').dataset.points) >= 2")
        .await;
    let inked = browser
        .eval(
            "(() => { const c = document.getElementById('plot-connections'); \
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
             let n = 0; for (let i = 0; i < d.length; i += 4) \
             if (d[i + 3] > 0 && d[i + 2] > 180 && d[i] < 120) n++; return n; })()",
        )
        .await;
    assert!(
        inked.as_u64().unwrap() > 20,
        "the connections line is drawn: {inked}"
    );

    // A group with its member.
    browser
        .until("document.querySelector('#groups tbody').textContent === 'lobby1'")
        .await;

    if let Some(dir) = &shots {
        // A minute of traffic whose rate swells and ebbs, WebSocket and HTTP,
        // and connections coming and going, so the plots have a shape.
        let hello = format!("http://{}/dev/hello", gw.public);
        let mut extra = Vec::new();
        for tick in 0..600u32 {
            let swell = 1.0 + (f64::from(tick) / 60.0).sin();
            for i in 0..(2.0 + 6.0 * swell) as u32 {
                send_text(&mut ws, &format!(r#"{{"action":"echo","text":"{i}"}}"#)).await;
                recv_text(&mut ws).await;
            }
            if tick % 3 == 0 {
                http("GET", &hello, vec![]).await;
            }
            if tick % 40 == 0 {
                extra.push(connect(&gw.url("dev")).await);
            }
            if tick % 70 == 0 && extra.len() > 2 {
                extra.remove(0);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        browser
            .eval(&format!("document.getElementById('lookup-id').value = '{id}'; document.getElementById('lookup').requestSubmit(); true"))
            .await;
        browser
            .until("document.getElementById('send').hidden === false")
            .await;
        let png = browser.screenshot().await;
        std::fs::write(std::path::Path::new(dir).join("dashboard.png"), png).unwrap();
    }

    // Look up, send, disconnect.
    browser
        .eval(&format!("document.getElementById('lookup-id').value = '{id}'; document.getElementById('lookup').requestSubmit(); true"))
        .await;
    browser
        .until(&format!(
            "document.getElementById('connection').dataset.connection === '{id}'"
        ))
        .await;
    let facts = browser
        .eval("document.getElementById('connection').textContent")
        .await;
    let facts = facts.as_str().unwrap();
    assert!(
        facts.contains("stagedev") && facts.contains("source127.0.0.1"),
        "{facts}"
    );
    browser
        .eval("document.getElementById('send-text').value = 'from the dashboard'; document.getElementById('send').requestSubmit(); true")
        .await;
    assert_eq!(recv_text(&mut ws).await, "from the dashboard");
    browser
        .until(&format!(
            "document.getElementById('lookup-status').textContent === 'sent to {id}'"
        ))
        .await;
    browser
        .eval("document.getElementById('disconnect').click(); true")
        .await;
    assert_eq!(expect_close(&mut ws).await.0, 1000);
    browser
        .until(&format!(
            "document.getElementById('lookup-status').textContent === 'disconnected {id}'"
        ))
        .await;
    assert!(
        browser.errors.is_empty(),
        "console errors: {:?}",
        browser.errors
    );
}

#[tokio::test]
async fn chromium_agrees_permessage_deflate_and_round_trips_compressed_messages() {
    // The demo config with compression on for every stage.
    let config = format!(
        "{}\n[websocket.compression]\nenabled = true\nmin_bytes = 0\n",
        sockgate::config::DEFAULT_CONFIG
    );
    let gw = Gw::start(&config).await;
    let mut browser = Browser::launch().await;
    browser.open(&format!("http://{}/dev/", gw.public)).await;
    // A socket of the test's own beside the page's: its negotiated extensions
    // as Chromium reports them, and a 20 KB echo (Chromium compresses what it
    // sends once permessage-deflate is agreed; sockgate compresses the reply).
    browser
        .eval(&format!(
            r#"(() => {{
                const ws = new WebSocket('ws://{}/dev');
                const text = 'quote '.repeat(3400) + 'end';
                window.deflateTest = {{}};
                ws.onopen = () => {{
                    window.deflateTest.extensions = ws.extensions;
                    ws.send(JSON.stringify({{action: 'echo', text}}));
                }};
                ws.onmessage = (e) => {{
                    window.deflateTest.echoed = JSON.parse(e.data).text === text;
                    ws.close();
                }};
                return true;
            }})()"#,
            gw.public
        ))
        .await;
    browser
        .until("window.deflateTest.echoed !== undefined")
        .await;
    assert_eq!(
        browser.eval("window.deflateTest.extensions").await,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    assert_eq!(browser.eval("window.deflateTest.echoed").await, true);
    // The page's own connection is compressed too, and still chats.
    browser
        .eval("document.getElementById('text').value = 'compressed hello'; document.getElementById('send').requestSubmit(); true")
        .await;
    browser
        .until(&format!("{LOG}.includes('compressed hello\"}}')"))
        .await;
    assert!(
        browser.errors.is_empty(),
        "console errors: {:?}",
        browser.errors
    );
}
