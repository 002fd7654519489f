//! Arbitrary messages to every RPC: whatever a client sends, as whichever
//! principal, whistle answers with a status the caller can act on (never
//! INTERNAL or UNKNOWN), within a bound, and goes on serving.
//!
//! The methods and their request messages come from the service's own file
//! descriptor set, so a method added later is fuzzed without touching this file.
//! Requests are `prost_reflect::DynamicMessage`s filled with proptest's values
//! (boundary numbers, unknown enum numbers, empty, huge, control-character and
//! NUL texts, ids of a real case and its requests), sometimes truncated, and
//! sometimes plain random bytes; they travel as bytes through a pass-through
//! codec, once with each role's key and once with none.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use prost::bytes::{Buf, BufMut, Bytes};
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value,
};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

use crate::helpers::*;

scenarios!(arbitrary_messages_to_every_rpc_never_answer_internal);

const SERVICES: [&str; 3] = [
    "whistle.v1.CaseService",
    "whistle.v1.DepartmentService",
    "whistle.v1.SupervisionService",
];

/// How long any one call may take before the server counts as stuck.
const CALL_BOUND: Duration = Duration::from_secs(5);
/// How long a stream that opened is read for its first item; a watch with
/// nothing to say stays silent, which is fine.
const FIRST_ITEM_WAIT: Duration = Duration::from_millis(50);
/// Nested messages deeper than this are left absent.
const MAX_DEPTH: usize = 3;

/// Inputs the property once found to answer INTERNAL, kept as explicit cases:
/// (method path, request bytes). Each is sent with every role.
fn regressions() -> Vec<(&'static str, Vec<u8>)> {
    use prost::Message;
    use whistle::proto::{ListAssignedRequestsRequest, ListCasesRequest, ListOverdueRequest};
    // A page token shaped like a real one around a NUL: PostgreSQL refused the
    // text parameter and the list answered INTERNAL.
    let nul_case = hex::encode("cases\n\0");
    let nul_request = hex::encode("requests\n17\n\0");
    vec![
        (
            "/whistle.v1.CaseService/ListCases",
            ListCasesRequest {
                page_token: nul_case,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "/whistle.v1.DepartmentService/ListAssignedRequests",
            ListAssignedRequestsRequest {
                page_token: nul_request.clone(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "/whistle.v1.SupervisionService/ListOverdue",
            ListOverdueRequest {
                page_token: nul_request,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
    ]
}

/// One RPC as the descriptor set describes it.
#[derive(Clone, Debug)]
struct Method {
    path: String,
    input: MessageDescriptor,
    streaming: bool,
}

fn methods() -> Vec<Method> {
    let pool = DescriptorPool::decode(whistle::proto::FILE_DESCRIPTOR_SET)
        .expect("the file descriptor set decodes");
    let mut methods = Vec::new();
    for name in SERVICES {
        let service = pool
            .get_service_by_name(name)
            .unwrap_or_else(|| panic!("{name} is in the descriptor set"));
        for method in service.methods() {
            if method.is_client_streaming() {
                continue;
            }
            methods.push(Method {
                path: format!("/{}/{}", service.full_name(), method.name()),
                input: method.input(),
                streaming: method.is_server_streaming(),
            });
        }
    }
    assert!(methods.len() >= 15, "only {} methods found", methods.len());
    methods
}

/// What one call sends: a message, a message cut short, or bytes.
#[derive(Clone)]
enum Payload {
    Message(DynamicMessage),
    Truncated(DynamicMessage, usize),
    Raw(Vec<u8>),
}

/// Shown as the bytes sent (a DynamicMessage's own Debug prints its whole
/// descriptor); the failing call's message names its method.
impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", hex::encode(self.bytes()))
    }
}

impl Payload {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Message(m) => prost::Message::encode_to_vec(m),
            Payload::Truncated(m, at) => {
                let mut bytes = prost::Message::encode_to_vec(m);
                bytes.truncate(*at);
                bytes
            }
            Payload::Raw(bytes) => bytes.clone(),
        }
    }
}

fn payload(input: &MessageDescriptor, seeds: &Arc<Seeds>) -> BoxedStrategy<Payload> {
    let message = message(input.clone(), seeds.clone(), 0);
    prop_oneof![
        6 => message.clone().prop_map(Payload::Message),
        1 => (message, any::<usize>()).prop_map(|(m, at)| {
            let len = prost::Message::encoded_len(&m).max(1);
            Payload::Truncated(m, at % len)
        }),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Payload::Raw),
    ]
    .boxed()
}

fn message(
    descriptor: MessageDescriptor,
    seeds: Arc<Seeds>,
    depth: usize,
) -> BoxedStrategy<DynamicMessage> {
    let fields: Vec<BoxedStrategy<Option<(FieldDescriptor, Value)>>> = descriptor
        .fields()
        .filter(|f| !f.is_map())
        .filter_map(|field| {
            let wild = field_value(&field, &seeds, depth)?;
            let value = match plausible_field(&field, &seeds, depth) {
                Some(plausible) => prop_oneof![4 => plausible, 1 => wild].boxed(),
                None => wild,
            };
            Some(
                prop::option::weighted(0.9, value)
                    .prop_map(move |v| v.map(|v| (field.clone(), v)))
                    .boxed(),
            )
        })
        .collect();
    fields
        .prop_map(move |values| {
            let mut message = DynamicMessage::new(descriptor.clone());
            for (field, value) in values.into_iter().flatten() {
                message.set_field(&field, value);
            }
            message
        })
        .boxed()
}

fn field_value(
    field: &FieldDescriptor,
    seeds: &Arc<Seeds>,
    depth: usize,
) -> Option<BoxedStrategy<Value>> {
    let single = single_value(field.kind(), seeds, depth)?;
    Some(if field.is_list() {
        prop::collection::vec(single, 0..50)
            .prop_map(Value::List)
            .boxed()
    } else {
        single
    })
}

fn single_value(kind: Kind, seeds: &Arc<Seeds>, depth: usize) -> Option<BoxedStrategy<Value>> {
    Some(match kind {
        Kind::String => text(seeds).prop_map(Value::String).boxed(),
        Kind::Bytes => prop::collection::vec(any::<u8>(), 0..2048)
            .prop_map(|b| Value::Bytes(Bytes::from(b)))
            .boxed(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => prop_oneof![
            Just(i32::MIN),
            Just(i32::MAX),
            Just(0),
            Just(-1),
            0..10i32,
            any::<i32>(),
        ]
        .prop_map(Value::I32)
        .boxed(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(0),
            Just(-1),
            0..10i64,
            any::<i64>(),
        ]
        .prop_map(Value::I64)
        .boxed(),
        Kind::Uint32 | Kind::Fixed32 => {
            prop_oneof![Just(u32::MAX), Just(0), 0..10u32, any::<u32>()]
                .prop_map(Value::U32)
                .boxed()
        }
        Kind::Uint64 | Kind::Fixed64 => prop_oneof![
            Just(u64::MAX),
            Just(i64::MAX as u64),
            Just(i64::MAX as u64 + 1),
            Just(0),
            0..10u64,
            any::<u64>(),
        ]
        .prop_map(Value::U64)
        .boxed(),
        Kind::Float => any::<f32>().prop_map(Value::F32).boxed(),
        Kind::Double => any::<f64>().prop_map(Value::F64).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::Enum(e) => {
            let known: Vec<i32> = e.values().map(|v| v.number()).collect();
            prop_oneof![
                3 => prop::sample::select(known),
                1 => prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(-1), any::<i32>()],
            ]
            .prop_map(Value::EnumNumber)
            .boxed()
        }
        Kind::Message(m) => {
            if depth >= MAX_DEPTH {
                return None;
            }
            message(m, seeds.clone(), depth + 1)
                .prop_map(Value::Message)
                .boxed()
        }
    })
}

/// What the ids and codes the seed created are.
struct Seeds {
    /// Every id and code, for wild texts.
    all: Vec<String>,
    case_ids: Vec<String>,
    request_ids: Vec<String>,
    /// Extensions waiting for the supervisor's decision (or none, if asking
    /// failed: then a fresh UUID stands in).
    extension_ids: Vec<String>,
}

/// A value a well-behaved client would send in this field (judged by its
/// name), so that most messages pass parsing and reach the domain and the
/// store, where one wild field then has to be handled.
fn plausible_field(
    field: &FieldDescriptor,
    seeds: &Arc<Seeds>,
    depth: usize,
) -> Option<BoxedStrategy<Value>> {
    let single = plausible(field.name(), field.kind(), seeds, depth)?;
    Some(if field.is_list() {
        prop::collection::vec(single, 0..3)
            .prop_map(Value::List)
            .boxed()
    } else {
        single
    })
}

fn plausible(
    name: &str,
    kind: Kind,
    seeds: &Arc<Seeds>,
    depth: usize,
) -> Option<BoxedStrategy<Value>> {
    let texts = |choices: &[&str]| {
        let choices: Vec<String> = choices.iter().map(|s| s.to_string()).collect();
        prop::sample::select(choices)
            .prop_map(Value::String)
            .boxed()
    };
    Some(match kind {
        Kind::String => match name {
            n if n.contains("request_id") => prop::sample::select(seeds.request_ids.clone())
                .prop_map(Value::String)
                .boxed(),
            "extension_id" if !seeds.extension_ids.is_empty() => {
                prop::sample::select(seeds.extension_ids.clone())
                    .prop_map(Value::String)
                    .boxed()
            }
            "case_id" => prop::sample::select(seeds.case_ids.clone())
                .prop_map(Value::String)
                .boxed(),
            "petition_id" => any::<u64>()
                .prop_map(|n| Value::String(format!("FUZZ-{n}")))
                .boxed(),
            "category" => texts(&["property-certificate", "street-lighting", "power-supply"]),
            "community" => texts(&["杨柳社区", "新南社区"]),
            n if n.contains("department") => texts(&["housing", "land", "lighting", "power"]),
            "office" => texts(&["cuiping"]),
            n if n.contains("phone") => texts(&["13812345678", "0818-2345678"]),
            "page_token" => prop_oneof![texts(&[""]), cursor()].boxed(),
            _ => texts(&["杨柳小区3栋", "已办结。", "张女士"]),
        },
        Kind::Int32 => match name {
            "difficulty" => (1..=5i32).prop_map(Value::I32).boxed(),
            "page_size" => (1..=50i32).prop_map(Value::I32).boxed(),
            _ => (0..=3i32).prop_map(Value::I32).boxed(),
        },
        Kind::Uint64 => (0..=5u64).prop_map(Value::U64).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::Enum(e) => {
            let known: Vec<i32> = e.values().map(|v| v.number()).collect();
            prop::sample::select(known)
                .prop_map(Value::EnumNumber)
                .boxed()
        }
        Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => {
            let now = chrono::Utc::now().timestamp();
            (-30 * 86_400..60 * 86_400i64)
                .prop_map(move |offset| {
                    let mut t = DynamicMessage::new(m.clone());
                    t.set_field_by_name("seconds", Value::I64(now + offset));
                    Value::Message(t)
                })
                .boxed()
        }
        Kind::Message(m) if depth < MAX_DEPTH => message(m, seeds.clone(), depth + 1)
            .prop_map(Value::Message)
            .boxed(),
        _ => return None,
    })
}

/// A page token shaped like the ones the lists hand out (hex of a tag and
/// newline-separated parts), with parts that were never handed out.
fn cursor() -> BoxedStrategy<Value> {
    let part = prop_oneof![
        Just("\0".to_owned()),
        Just("x\0y".to_owned()),
        Just("9223372036854775808".to_owned()),
        Just("-9223372036854775808".to_owned()),
        Just("0".to_owned()),
        "[\\x00-\\x1f]{1,4}",
        any::<String>(),
    ];
    let tag = prop::sample::select(vec!["cases", "requests", "alerts", "mail"]);
    (tag, prop::collection::vec(part, 1..3))
        .prop_map(|(tag, parts)| {
            let mut text = tag.to_owned();
            for p in parts {
                text.push('\n');
                text.push_str(&p);
            }
            Value::String(hex::encode(text))
        })
        .boxed()
}

/// Texts a careless or hostile client sends, and ids that reach past parsing
/// to the store.
fn text(seeds: &Arc<Seeds>) -> BoxedStrategy<String> {
    let seeds: Vec<String> = seeds.all.clone();
    prop_oneof![
        2 => Just(String::new()),
        4 => prop::sample::select(seeds.clone()),
        1 => prop::sample::select(seeds).prop_map(|s| format!("{s}\0")),
        2 => any::<String>(),
        1 => "[\\x00-\\x1f\\x7f]{1,12}",
        1 => (1usize..4096, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
        1 => any::<[u8; 16]>().prop_map(|b| uuid::Uuid::from_bytes(b).to_string()),
        1 => prop_oneof![
            Just(" ".to_owned()),
            Just("-1".to_owned()),
            Just("0".to_owned()),
            Just("9223372036854775808".to_owned()),
            Just("'; DROP TABLE cases; --".to_owned()),
            Just("%".to_owned()),
        ],
    ]
    .boxed()
}

/// Sends and answers bytes as they are.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len).to_vec()))
    }
}

/// Every role's key, and none.
fn roles() -> Vec<(&'static str, Option<String>)> {
    vec![
        ("office", Some(OFFICE_KEY.to_owned())),
        ("department", Some(department_key("housing"))),
        ("supervisor", Some(SUPERVISOR_KEY.to_owned())),
        ("anonymous", None),
    ]
}

/// Sends `bytes` to `method` with `key`; `Ok` with the code it was answered
/// (`Code::Ok` for success), `Err` when the server took too long.
async fn call(
    app: &TestApp,
    method: &Method,
    key: Option<&str>,
    bytes: Vec<u8>,
) -> Result<Code, String> {
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    let mut request = tonic::Request::new(bytes);
    if let Some(key) = key {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {key}").parse().expect("an ASCII key"),
        );
    }
    let path: http::uri::PathAndQuery = method.path.parse().expect("a method path");
    let answer = tokio::time::timeout(CALL_BOUND, async {
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        if method.streaming {
            let mut stream = grpc
                .server_streaming(request, path, RawCodec)
                .await?
                .into_inner();
            match tokio::time::timeout(FIRST_ITEM_WAIT, stream.message()).await {
                Ok(Err(status)) => Err(status),
                _ => Ok(()),
            }
        } else {
            grpc.unary(request, path, RawCodec).await.map(|_| ())
        }
    })
    .await
    .map_err(|_| format!("no answer within {CALL_BOUND:?}"))?;
    match answer {
        Ok(()) => Ok(Code::Ok),
        Err(status) if matches!(status.code(), Code::Internal | Code::Unknown) => Err(format!(
            "answered {:?}: {:?}",
            status.code(),
            status.message()
        )),
        Err(status) => Ok(status.code()),
    }
}

/// Sends one payload with every role's key; the first bad answer, if any.
async fn every_role(app: &TestApp, method: &Method, bytes: &[u8]) -> Result<(), String> {
    for (role, key) in roles() {
        call(app, method, key.as_deref(), bytes.to_vec())
            .await
            .map_err(|e| {
                format!(
                    "{} as {role}: {e}; sent {}",
                    method.path,
                    hex::encode(bytes)
                )
            })?;
    }
    Ok(())
}

/// A real case, one of its requests acknowledged and replied to, the other
/// fresh; their ids (and the organisation's codes) seed the texts.
async fn seed(app: &TestApp) -> (String, Seeds) {
    let case = app.escalate(property_certificate("FUZZ-SEED-1")).await;
    let housing = case
        .requests
        .iter()
        .find(|r| r.department == "housing")
        .expect("housing leads a property certificate");
    app.answer("housing", &housing.id, "已办结。").await;
    let land = case
        .requests
        .iter()
        .find(|r| r.department == "land")
        .expect("land assists on a property certificate");
    app.acknowledge("land", &land.id).await;
    let new_due = land.reply_due_at.map(|t| prost_types::Timestamp {
        seconds: t.seconds + 3 * 86_400,
        nanos: 0,
    });
    let extension = app
        .department("land")
        .request_extension(whistle::proto::RequestExtensionRequest {
            request_id: land.id.clone(),
            new_reply_due_at: new_due,
            reason: "需要现场勘测。".into(),
        })
        .await
        .expect("land may ask for more time")
        .into_inner();
    let other = app.escalate(street_lighting("FUZZ-SEED-2")).await;
    let mut seeds = vec![
        case.id.clone(),
        other.id.clone(),
        "FUZZ-SEED-1".to_owned(),
        "property-certificate".to_owned(),
        "street-lighting".to_owned(),
        "housing".to_owned(),
        "land".to_owned(),
        "lighting".to_owned(),
        "杨柳社区".to_owned(),
        "2026-01-01T00:00:00Z".to_owned(),
    ];
    let request_ids: Vec<String> = (case.requests.iter())
        .chain(&other.requests)
        .map(|r| r.id.clone())
        .collect();
    seeds.extend(request_ids.iter().cloned());
    let seeds = Seeds {
        all: seeds,
        case_ids: vec![case.id.clone(), other.id.clone()],
        request_ids,
        extension_ids: extension.extension.into_iter().map(|e| e.id).collect(),
    };
    (case.id, seeds)
}

/// The recorded regressions, then `PROPTEST_CASES` (64 unless set) cases,
/// each a payload for every method sent with every role's key.
async fn arbitrary_messages_to_every_rpc_never_answer_internal(backend: Backend) {
    let env = [
        ("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "0"),
        ("WHISTLE__GRPC__AUTH_FAILURES_PER_MINUTE", "0"),
    ];
    let Some(app) = spawn_app_with(backend, None, &env).await else {
        return;
    };
    let (case_id, seeds) = seed(&app).await;
    let methods = methods();

    for (path, bytes) in regressions() {
        let method = methods
            .iter()
            .find(|m| m.path == path)
            .unwrap_or_else(|| panic!("{path} is a method"));
        if let Err(e) = every_role(&app, method, &bytes).await {
            panic!("regression: {e}");
        }
        app.case(&case_id).await;
    }

    // proptest's runner is synchronous: it runs on a blocking thread and
    // drives each case's calls on the test's runtime.
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let seeds = Arc::new(seeds);
        let strategy: Vec<BoxedStrategy<Payload>> =
            methods.iter().map(|m| payload(&m.input, &seeds)).collect();
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        let mut runner = TestRunner::new(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(cases)
        });
        let result = runner.run(&strategy, |payloads| {
            handle.block_on(async {
                for (method, payload) in methods.iter().zip(&payloads) {
                    every_role(&app, method, &payload.bytes())
                        .await
                        .map_err(TestCaseError::fail)?;
                }
                // The server is alive and still answers a plain question.
                app.case(&case_id).await;
                Ok(())
            })
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    })
    .await
    .expect("the property holds");
}
