//! The billing page in a real browser: buy packages, read the renewal sentence, disable
//! renewal, see the meter and the invoice. Screenshots go to `test-artifacts/`.

use crate::{
    browser::{Driver, artifact, eventually, script_string, sign_in},
    helpers::spawn_app,
};
use thirtyfour::prelude::*;

#[tokio::test]
async fn an_owner_buys_packages_and_disables_their_renewal() {
    let app = spawn_app().await;
    let demo = frontdesk::services::demo::seed_demo(&app.ctx)
        .await
        .expect("demo account");
    let owner = demo.logins.first().expect("the owner's login");
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    sign_in(&app, &browser, &owner.email, &owner.password).await;
    browser.goto(app.url("/billing")).await.expect("billing");
    let limit = script_string(
        &browser,
        "return document.getElementById('limit')?.textContent || ''",
    )
    .await;
    assert_eq!(limit, "500", "PLUS includes 500");

    let quantity = browser
        .find(By::Css(".buy-form input[name=quantity]"))
        .await
        .expect("quantity");
    quantity.clear().await.expect("clear");
    quantity.send_keys("2").await.expect("type");
    browser
        .find(By::Css(".buy-form button"))
        .await
        .expect("buy")
        .click()
        .await
        .expect("click");
    // A confirmation step names the amount before anything is charged.
    eventually("the purchase asks for confirmation", || async {
        script_string(
            &browser,
            "return document.querySelector('.confirm-question')?.textContent || ''",
        )
        .await
            == "Buy 2 packages for 20.00 USD now?"
    })
    .await;
    browser
        .screenshot(&artifact("billing-confirm.png"))
        .await
        .expect("screenshot");
    browser
        .find(By::Css("#confirm-buy button.primary"))
        .await
        .expect("confirm")
        .click()
        .await
        .expect("click");
    eventually("the purchase shows", || async {
        script_string(
            &browser,
            "return document.getElementById('limit')?.textContent || ''",
        )
        .await
            == "700"
    })
    .await;
    let renewal_date = script_string(
        &browser,
        "return document.getElementById('renewal-date')?.textContent || ''",
    )
    .await;
    let sentence = script_string(
        &browser,
        "return document.querySelector('.renewal-note')?.textContent || ''",
    )
    .await;
    assert_eq!(
        sentence,
        format!("Disable before {renewal_date} or it renews and is billed."),
        "the renewal sentence names the renewal date"
    );
    let invoices = script_string(
        &browser,
        "return document.querySelector('table.invoices')?.textContent || ''",
    )
    .await;
    assert!(
        invoices.contains("Purchase") && invoices.contains("20.00 USD"),
        "{invoices}"
    );
    browser
        .screenshot(&artifact("billing-bought.png"))
        .await
        .expect("screenshot");

    browser
        .find(By::Css("table.packages button.switch"))
        .await
        .expect("switch")
        .click()
        .await
        .expect("disable renewal");
    eventually("the package no longer renews", || async {
        script_string(
            &browser,
            "return document.querySelector('.renewal-note')?.textContent || ''",
        )
        .await
        .starts_with("Stays active until")
    })
    .await;
    assert_eq!(
        script_string(
            &browser,
            "return document.getElementById('limit')?.textContent || ''"
        )
        .await,
        "700",
        "still active this period"
    );
    let ledger = script_string(
        &browser,
        "return document.querySelector('table.ledger')?.textContent || ''",
    )
    .await;
    assert!(
        ledger.contains("Renewal turned off") && ledger.contains("Bought 2"),
        "{ledger}"
    );
    browser
        .screenshot(&artifact("billing-renewal-off.png"))
        .await
        .expect("screenshot");
    browser.quit().await.expect("quit");
}
