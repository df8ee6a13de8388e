//! Issue 14: the header says what visitors see (online while some available agent has the
//! inbox open, as the widget's `online`), and the signed-in user's own status apart from it.

use crate::{agent_socket::session_cookie, helpers::spawn_app, sockets::Socket};
use frontdesk::domain::role::Role;
use serde_json::json;

const VISITORS_ONLINE: &str = "Online: visitors can chat</span>";
const VISITORS_OFFLINE: &str = "Offline: visitors see the offline form</span>";

async fn billing_page(app: &crate::helpers::TestApp, client: &reqwest::Client) -> String {
    app.get(client, "/billing")
        .await
        .text()
        .await
        .expect("page")
}

async fn presence(app: &crate::helpers::TestApp, client: &reqwest::Client) -> bool {
    let body: serde_json::Value = app
        .get(client, "/account/presence")
        .await
        .json()
        .await
        .expect("json");
    body["visitors_can_chat"].as_bool().expect("a boolean")
}

#[tokio::test]
async fn the_header_shows_whether_visitors_can_chat_apart_from_the_users_own_status() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let agent_email = app.create_user(&account, Role::Agent).await;
    let owner = app.signed_in(&account.owner_email).await;
    let mut widget = Socket::widget(&app, &account.widget_key).await;
    assert_eq!(widget.hello(None, None, None).await["online"], false);

    // The owner is "available" but has no inbox open, and nobody else does: visitors get
    // the offline form, and the header on /billing says so.
    let billing = billing_page(&app, &owner).await;
    assert!(billing.contains(VISITORS_OFFLINE), "{billing}");
    assert!(!billing.contains(VISITORS_ONLINE));
    assert!(billing.contains("You: available"), "the user's own status");
    assert!(!presence(&app, &owner).await);

    // An available agent opens the inbox: the widget goes online, and so does the header.
    let cookie = session_cookie(&app, &agent_email).await;
    let inbox = Socket::open(&app.address, "/ws/agent", Some(&app.address), Some(&cookie))
        .await
        .expect("inbox socket");
    assert_eq!(widget.recv_type("status").await["online"], true);
    let billing = billing_page(&app, &owner).await;
    assert!(billing.contains(VISITORS_ONLINE), "{billing}");
    assert!(presence(&app, &owner).await);

    // The agent goes away: offline for visitors again, while the owner stays "available".
    let token = app.token_for(&agent_email).await;
    let agent_id = app.user_id(&agent_email).await;
    let response = app
        .api(
            &token,
            reqwest::Method::PATCH,
            &format!("/api/v1/agents/{agent_id}"),
        )
        .json(&json!({"status": "away"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(widget.recv_type("status").await["online"], false);
    let billing = billing_page(&app, &owner).await;
    assert!(billing.contains(VISITORS_OFFLINE), "{billing}");
    assert!(billing.contains("You: available"));
    drop(inbox);
}
