//! Issue 14 (item 16), the billing page and API: a purchase is confirmed with its amount
//! before anything is charged (no JavaScript needed), the ledger pages by cursor on the page
//! ("Older entries") and in the REST API (`cursor`/`limit`), and the meter turns amber at
//! 80 % (its `low` boundary sits below 80).

use crate::helpers::spawn_app;
use frontdesk::domain::plan::PlanCode;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn buying_packages_asks_to_confirm_the_amount_before_charging() {
    let app = spawn_app().await;
    let account = app.create_account_on("Acme", PlanCode::Plus).await;
    let token = app.token_for(&account.owner_email).await;
    let owner = app.signed_in(&account.owner_email).await;
    let (_, before) = app.call(&token, Method::GET, "/api/v1/billing", None).await;
    let price = before["plan"]["package_price_minor"]
        .as_i64()
        .expect("package price");
    let currency = before["plan"]["currency"].as_str().expect("currency");
    let total = format!("{}.{:02} {currency}", 2 * price / 100, 2 * price % 100);

    let response = app
        .post_form(
            &owner,
            "/billing",
            "/billing/packages",
            &[("quantity", "2")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 200, "a confirmation page");
    let page = response.text().await.expect("page");
    assert!(
        page.contains(&format!(
            "Buy 2 packages for <span class=\"money\">{total}</span> now?"
        )),
        "{page}"
    );
    assert!(page.contains("name=\"confirmed\" value=\"1\""));
    let (_, unchanged) = app.call(&token, Method::GET, "/api/v1/billing", None).await;
    assert_eq!(
        unchanged["chatbot"]["limit"], before["chatbot"]["limit"],
        "nothing is bought before the owner confirms"
    );
    let (_, invoices) = app
        .call(&token, Method::GET, "/api/v1/billing/invoices", None)
        .await;
    assert!(
        invoices["invoices"]
            .as_array()
            .expect("invoices")
            .iter()
            .all(|invoice| invoice["kind"] != "purchase"),
        "nothing is charged: {invoices}"
    );

    let response = app
        .post_form(
            &owner,
            "/billing",
            "/billing/packages",
            &[("quantity", "2"), ("confirmed", "1")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303, "bought");
    let (_, after) = app.call(&token, Method::GET, "/api/v1/billing", None).await;
    assert_eq!(
        after["chatbot"]["limit"].as_i64(),
        before["chatbot"]["limit"].as_i64().map(|limit| limit + 200)
    );
    let one = app
        .post_form(
            &owner,
            "/billing",
            "/billing/packages",
            &[("quantity", "1")],
        )
        .await
        .text()
        .await
        .expect("page");
    assert!(one.contains("Buy 1 package for"), "singular: {one}");
    let meter = app
        .get(&owner, "/billing")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        meter.contains("low=\"79\" high=\"99\" optimum=\"0\""),
        "80 % is past the low boundary (amber), 100 % past the high one (red)"
    );
}

#[tokio::test]
async fn the_ledger_pages_by_cursor_on_the_billing_page_and_in_the_api() {
    let app = spawn_app().await;
    let account = app.create_account_on("Acme", PlanCode::Plus).await;
    let token = app.token_for(&account.owner_email).await;
    let (_, package) = app
        .call(
            &token,
            Method::POST,
            "/api/v1/billing/packages",
            Some(json!({"quantity": 1})),
        )
        .await;
    let id = package["id"].as_str().expect("id").to_owned();
    for i in 0..60 {
        let (status, _) = app
            .call(
                &token,
                Method::PATCH,
                &format!("/api/v1/billing/packages/{id}"),
                Some(json!({"auto_renew": i % 2 == 1})),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (_, all) = app
        .call(
            &token,
            Method::GET,
            "/api/v1/billing/ledger?limit=1000",
            None,
        )
        .await;
    let total = all["entries"].as_array().expect("entries").len();
    assert!(total > 60, "{total} entries");
    assert_eq!(all["next_cursor"], serde_json::Value::Null);

    // The API: pages of 25 until no cursor is left, every entry once, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/billing/ledger?limit=25&cursor={c}"),
            None => "/api/v1/billing/ledger?limit=25".to_owned(),
        };
        let (status, page) = app.call(&token, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        let entries = page["entries"].as_array().expect("entries");
        assert!(entries.len() <= 25);
        seen.extend(entries.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, *all["entries"].as_array().expect("entries"));
    let (status, bad) = app
        .call(
            &token,
            Method::GET,
            "/api/v1/billing/ledger?cursor=zz",
            None,
        )
        .await;
    assert_eq!(status, 422, "{bad}");

    // The page: 50 rows, then "Older entries" leads to the rest.
    let owner = app.signed_in(&account.owner_email).await;
    let first = app
        .get(&owner, "/billing")
        .await
        .text()
        .await
        .expect("page");
    assert_eq!(first.matches("<tr><td><small>").count(), 50);
    let older = first
        .split("href=\"/billing?older=")
        .nth(1)
        .and_then(|rest| rest.split('#').next())
        .expect("an \"Older entries\" link");
    let second = app
        .get(&owner, &format!("/billing?older={older}"))
        .await
        .text()
        .await
        .expect("page");
    assert_eq!(second.matches("<tr><td><small>").count(), total - 50);
    assert!(second.contains(">Newest</a>"));
    assert!(!second.contains("id=\"ledger-older\""), "the last page");
}
