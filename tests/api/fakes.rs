//! Small HTTP servers on 127.0.0.1 standing in for Atlassian and for the app:
//! they record every request and answer from a script, then a default.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            headers: vec![],
        }
    }
}

#[derive(Clone)]
pub struct FakeServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub script: Arc<Mutex<VecDeque<Answer>>>,
    pub default: Arc<Mutex<Answer>>,
}

impl FakeServer {
    pub fn start(default: Answer) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let default = Arc::new(Mutex::new(default));
        let (r, s, d) = (requests.clone(), script.clone(), default.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let (r, s, d) = (r.clone(), s.clone(), d.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (r, s, d) = (r.clone(), s.clone(), d.clone());
                async move {
                    r.lock().unwrap().push(Recorded {
                        path: req.path().to_string(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                            })
                            .collect(),
                        body: body.to_vec(),
                    });
                    let answer = s
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or_else(|| d.lock().unwrap().clone());
                    let mut res = HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(answer.status).unwrap(),
                    );
                    for (k, v) in &answer.headers {
                        res.insert_header((k.as_str(), v.as_str()));
                    }
                    res.json(answer.body)
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            script,
            default,
        }
    }

    pub fn then(&self, answer: Answer) {
        self.script.lock().unwrap().push_back(answer);
    }

    pub fn set_default(&self, answer: Answer) {
        *self.default.lock().unwrap() = answer;
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// A fake Forge key server: serves whatever key set the test puts in it and
/// counts how often it was asked.
pub struct JwksServer {
    pub url: String,
    pub keys: Arc<Mutex<Vec<Value>>>,
    pub fetches: Arc<AtomicUsize>,
}

pub fn start_jwks_server(initial: Vec<Value>) -> JwksServer {
    let keys = Arc::new(Mutex::new(initial));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let (k, f) = (k.clone(), f.clone());
        App::new().route(
            "/jwks.json",
            web::get().to(move || {
                let (k, f) = (k.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let keys = k.lock().unwrap().clone();
                    HttpResponse::Ok().json(json!({ "keys": keys }))
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    JwksServer {
        url: format!("http://127.0.0.1:{port}/jwks.json"),
        keys,
        fetches,
    }
}
