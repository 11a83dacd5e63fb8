//! The demo page of the built-in config, in a real browser (headless
//! Chromium over the DevTools protocol): it loads with no console error,
//! connects, shows its connection id, sends and shows the echo, shows a push
//! made with @connections and a group send after joining the lobby, and
//! shows the close when the connection is deleted.
//!
//! With `SOCKGATE_SCREENSHOT_DIR` set, the page is saved there as
//! `demo-page.png` (how `docs/demo-page.png` was made).

mod support;

use support::browser::Browser;
use support::*;

/// The text of the page's message log.
const LOG: &str = "document.getElementById('log').textContent";

#[tokio::test]
async fn the_demo_page_chats_through_the_gateway_in_a_real_browser() {
    let gw = Gw::start(sockgate::config::DEFAULT_CONFIG).await;
    let mut browser = Browser::launch().await;
    let page = format!("http://{}/dev/", gw.public);
    browser
        .call("Page.navigate", serde_json::json!({ "url": page }))
        .await;
    // Navigating returns as the page starts loading.
    browser
        .until(&format!(
            "location.href === '{page}' && document.readyState === 'complete'"
        ))
        .await;

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
