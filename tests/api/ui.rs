//! The operators' web page: sessions, anti-forgery, pages, and an end-to-end
//! run in a real headless Chromium that approves a decision.

use serde_json::Value;

use crate::browser::Browser;
use crate::helpers::*;
use crate::operators::world_with_pending_decision;

/// A client that carries the session cookie by hand and does not follow
/// redirects, so each answer can be checked.
struct Session {
    http: reqwest::Client,
    cookie: std::sync::Mutex<Option<String>>,
}

impl Session {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: std::sync::Mutex::new(None),
        }
    }

    fn with_cookie(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.cookie.lock().unwrap().as_ref() {
            Some(c) => req.header("cookie", c),
            None => req,
        }
    }

    fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.with_cookie(self.http.get(url))
    }

    /// The HTML of a page.
    async fn page(&self, url: impl reqwest::IntoUrl) -> String {
        self.get(url).send().await.unwrap().text().await.unwrap()
    }

    fn post(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.with_cookie(self.http.post(url))
    }
}

async fn sign_in(app: &TestApp, client: &Session, token: &str) -> reqwest::Response {
    let res = client
        .post(app.url("/ui/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    if let Some(set) = res.headers().get("set-cookie") {
        let pair = set.to_str().unwrap().split(';').next().unwrap().to_string();
        *client.cookie.lock().unwrap() = Some(pair);
    }
    res
}

/// The value of the hidden anti-forgery field on a page.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

async fn audit_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn pages_need_a_session_and_sign_in_takes_only_operator_tokens() {
    let app = spawn_app().await;
    let client = Session::new();
    let res = client.get(app.url("/ui")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/ui/sign-in");
    let form = client.get(app.url("/ui/sign-in")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("Operator token"));

    let refused = sign_in(&app, &client, SERVICE_TOKEN).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("set-cookie").is_none());
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("not an operator token"));

    let ok = sign_in(&app, &client, OPERATOR_TOKEN).await;
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let queue = client.get(app.url("/ui")).send().await.unwrap();
    assert_eq!(queue.status(), 200);
    let html = queue.text().await.unwrap();
    assert!(html.contains("signed in as <b>ops</b>"), "{html}");
    assert!(html.contains("Nothing is waiting for review"), "{html}");

    // Signing out needs the form's token, and ends the session everywhere.
    let forged = client
        .post(app.url("/ui/sign-out"))
        .form(&[("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let out = client
        .post(app.url("/ui/sign-out"))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = client.get(app.url("/ui")).send().await.unwrap();
    assert_eq!(after.status(), 303, "the session is gone");
}

#[tokio::test]
async fn forms_refuse_forgeries_and_a_decision_no_longer_pending() {
    let (w, decision) = world_with_pending_decision().await;
    let client = Session::new();
    assert_eq!(sign_in(&w.app, &client, OPERATOR_TOKEN).await.status(), 303);
    let page_url = w.app.url(&format!("/ui/decisions/{decision}"));
    let html = client.page(&page_url).await;
    assert!(html.contains("Approve purge"), "{html}");
    let csrf = csrf_of(&html);
    let before = audit_count(&w.app).await;

    // No anti-forgery token, a wrong one, or another origin: 403, nothing changes.
    for (fields, origin) in [
        (vec![("action", "approve"), ("reason", "r")], None),
        (
            vec![("action", "approve"), ("reason", "r"), ("csrf", "nope")],
            None,
        ),
        (
            vec![
                ("action", "approve"),
                ("reason", "r"),
                ("csrf", csrf.as_str()),
            ],
            Some("https://evil.example"),
        ),
    ] {
        let mut req = client.post(&page_url).form(&fields);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        assert_eq!(req.send().await.unwrap().status(), 403);
    }
    // No reason: refused on the page itself.
    let blank = client
        .post(&page_url)
        .form(&[("action", "approve"), ("reason", " "), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(blank.status(), 400);
    assert!(blank.text().await.unwrap().contains("a reason is required"));
    assert_eq!(audit_count(&w.app).await, before);
    assert_eq!(w.state("1").await, "pending_review");

    // A cookie alone is not an API credential.
    let api = client
        .get(w.app.url("/admin/decisions"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);

    let hold = client
        .post(&page_url)
        .form(&[
            ("action", "hold"),
            ("reason", "waiting for legal"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(hold.status(), 303);
    // Someone else keeps it through the API meanwhile; the page then refuses.
    assert_eq!(w.act(&decision, "keep").await.status(), 200);
    let late = client
        .post(&page_url)
        .form(&[
            ("action", "approve"),
            ("reason", "too late"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 409);
    let html = late.text().await.unwrap();
    assert!(html.contains("is kept"), "{html}");
    assert_eq!(w.state("1").await, "hidden");
    assert_eq!(audit_count(&w.app).await, before + 2);
}

#[tokio::test]
async fn site_and_object_pages_show_blocks_policies_and_history() {
    let (w, decision) = world_with_pending_decision().await;
    let client = Session::new();
    sign_in(&w.app, &client, OPERATOR_TOKEN).await;
    let site = client
        .page(w.app.url(&format!("/ui/sites/{}", w.tenant.cloud_id)))
        .await;
    assert!(site.contains("confluence/page/1") && site.contains("confluence/page/2"));
    assert!(
        site.contains("<td>purge</td><td>1d</td><td>required</td>"),
        "{site}"
    );
    let object = client
        .page(w.app.url(&format!(
            "/ui/objects?site={}&product=confluence&type=page&id=1",
            w.tenant.cloud_id
        )))
        .await;
    assert!(
        object.contains("pending_review") && object.contains(&decision),
        "{object}"
    );
    assert!(
        object.contains("blocked by"),
        "the event is in the history: {object}"
    );
    assert!(
        object.contains("Diagnosis") && object.contains("blocked_by_policy"),
        "the diagnosis is on the object page: {object}"
    );
    let never = client
        .page(w.app.url(&format!(
            "/ui/objects?site={}&product=confluence&type=page&id=999",
            w.tenant.cloud_id
        )))
        .await;
    assert!(never.contains("never seen a block"), "{never}");
    let bad = client
        .page(
            w.app
                .url("/ui/objects?site=no%20spaces&product=confluence&type=page&id=1"),
        )
        .await;
    assert!(bad.contains("is not a site id"), "{bad}");
    let missing = client
        .get(
            w.app
                .url(&format!("/ui/decisions/{}", uuid::Uuid::new_v4())),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// Signs in, opens the pending decision from the queue, approves it with a
/// reason, and sees the state and the audit trail change — in Chromium.
#[tokio::test]
async fn an_operator_approves_a_decision_in_a_real_browser() {
    let (w, decision) = world_with_pending_decision().await;
    let browser = Browser::start().await;

    browser.goto(&w.app.url("/ui")).await;
    browser.wait_for_url_ending("/ui/sign-in").await;
    browser.type_into("#token", OPERATOR_TOKEN).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_url_ending("/ui").await;
    let session: Vec<Value> = browser.cookies().await;
    let cookie = session
        .iter()
        .find(|c| c["name"] == "aarc_session")
        .expect("a session cookie");
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["sameSite"], "Strict");

    let queue = browser.text("#pending").await;
    assert!(
        queue.contains(&w.tenant.cloud_id) && queue.contains("pending_review"),
        "{queue}"
    );
    browser.screenshot("queue").await;

    browser.click("#pending a.open").await;
    browser.wait_for_url_ending(&decision).await;
    browser
        .wait_for_text("#decision-state", "pending_review")
        .await;
    browser.screenshot("decision-pending").await;

    browser
        .type_into("#reason", "customer confirmed the pages must go")
        .await;
    browser.click("button.approve").await;
    browser.wait_for_text("#decision-state", "purging").await;
    let audit = browser.text("#audit").await;
    assert!(
        audit.contains("ops")
            && audit.contains("approve")
            && audit.contains("customer confirmed the pages must go"),
        "{audit}"
    );
    let shot = browser.screenshot("decision-approved").await;
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a real picture"
    );
    browser.quit().await;

    assert_eq!(w.state("1").await, "purging");
    let actor: String = sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'approve'")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(actor, "ops");
}
