//! What a load balancer and grpcurl find without a key: the standard health
//! service, and server reflection in both its v1 and v1alpha dialects.

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::{v1, v1alpha};

use crate::helpers::*;

scenarios!(
    the_health_service_reports_serving,
    reflection_v1_lists_and_describes_the_services,
    reflection_v1alpha_lists_the_services,
    a_generic_client_decodes_error_details_through_reflection,
    health_turns_not_serving_while_the_service_stops,
);

const CASES: &str = "whistle.v1.CaseService";
const DEPARTMENTS: &str = "whistle.v1.DepartmentService";
const SUPERVISION: &str = "whistle.v1.SupervisionService";

async fn the_health_service_reports_serving(app: TestApp) {
    // A load balancer connects on its own, with no key.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .expect("connecting to the health service");
    let mut health = HealthClient::new(channel);
    for service in ["", CASES, DEPARTMENTS, SUPERVISION] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("health of {service:?}: {s:?}"))
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "whistle.v1.NoSuchService".into(),
        })
        .await;
    refused(unknown, tonic::Code::NotFound);
}

async fn reflection_v1_lists_and_describes_the_services(app: TestApp) {
    use v1::server_reflection_client::ServerReflectionClient;
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;

    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let ask = |message: MessageRequest| v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(message),
    };
    let requests = tokio_stream::iter([
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(CASES.into())),
    ]);
    let mut answers = reflection
        .server_reflection_info(requests)
        .await
        .expect("reflection v1 answers")
        .into_inner();

    let listed = answers.message().await.unwrap().expect("a list");
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
        panic!("expected a service list, got {listed:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [CASES, DEPARTMENTS, SUPERVISION, "grpc.health.v1.Health"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }

    let described = answers.message().await.unwrap().expect("a descriptor");
    let Some(MessageResponse::FileDescriptorResponse(files)) = described.message_response else {
        panic!("expected file descriptors, got {described:?}");
    };
    use prost::Message;
    let files: Vec<_> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap())
        .collect();
    let cases_file = files
        .iter()
        .find(|f| f.name() == "whistle/v1/cases.proto")
        .expect("the file that declares CaseService");
    let methods: Vec<_> = cases_file.service[0]
        .method
        .iter()
        .map(|m| m.name())
        .collect();
    assert_eq!(
        methods,
        [
            "EscalatePetition",
            "EscalatePetitions",
            "GetCase",
            "ListCases",
            "ReviewReply",
            "RecordFeedback",
            "UnlinkResident",
            "LinkCases",
            "WatchCaseEvents",
            "GetAttachment",
            "ExportLedger",
            "ListProgressReport"
        ]
    );
}

async fn reflection_v1alpha_lists_the_services(app: TestApp) {
    use v1alpha::server_reflection_client::ServerReflectionClient;
    use v1alpha::server_reflection_request::MessageRequest;
    use v1alpha::server_reflection_response::MessageResponse;

    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection v1alpha answers")
        .into_inner();
    let listed = answers.message().await.unwrap().expect("a list");
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
        panic!("expected a service list, got {listed:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [CASES, DEPARTMENTS] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

/// What grpcurl or Postman do with an error: fetch google.rpc.Status and the
/// detail types through reflection, then decode the details trailer with them.
async fn a_generic_client_decodes_error_details_through_reflection(app: TestApp) {
    use prost_reflect::{DescriptorPool, DynamicMessage, Value};
    use v1::server_reflection_client::ServerReflectionClient;
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;

    let mut bad = property_certificate("CP-DETAILS");
    bad.title = String::new();
    bad.difficulty = 9;
    let status = app.office().escalate_petition(bad).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    // As grpcurl does: the files that hold the symbols, then each file they
    // import that is not known yet, by name.
    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let mut files: Vec<prost_types::FileDescriptorProto> = Vec::new();
    let mut wanted = vec![
        MessageRequest::FileContainingSymbol("google.rpc.Status".into()),
        MessageRequest::FileContainingSymbol("google.rpc.BadRequest".into()),
    ];
    while let Some(request) = wanted.pop() {
        let answer = reflection
            .server_reflection_info(tokio_stream::iter([v1::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(request.clone()),
            }]))
            .await
            .expect("reflection answers")
            .into_inner()
            .message()
            .await
            .unwrap()
            .expect("an answer");
        let Some(MessageResponse::FileDescriptorResponse(found)) = answer.message_response else {
            panic!("{request:?}: expected file descriptors, got {answer:?}");
        };
        use prost::Message;
        for bytes in found.file_descriptor_proto {
            let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap();
            if files.iter().any(|f| f.name == file.name) {
                continue;
            }
            for import in &file.dependency {
                if !files.iter().any(|f| f.name.as_ref() == Some(import)) {
                    wanted.push(MessageRequest::FileByFilename(import.clone()));
                }
            }
            files.push(file);
        }
    }
    // Dependencies first, as a descriptor pool wants them.
    files.reverse();
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files)
        .expect("reflection serves the detail types and everything they need");

    let status_type = pool.get_message_by_name("google.rpc.Status").unwrap();
    let decoded = DynamicMessage::decode(status_type, status.details()).unwrap();
    let Value::List(details) = decoded.get_field_by_name("details").unwrap().into_owned() else {
        panic!("details is a list")
    };
    let mut fields = Vec::new();
    for detail in details {
        let Value::Message(any) = detail else {
            panic!("an Any")
        };
        let type_url = any
            .get_field_by_name("type_url")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        let value = any
            .get_field_by_name("value")
            .unwrap()
            .as_bytes()
            .unwrap()
            .clone();
        let name = type_url.rsplit('/').next().unwrap();
        let Some(kind) = pool.get_message_by_name(name) else {
            panic!("{type_url} is not known through reflection")
        };
        if name == "google.rpc.BadRequest" {
            let bad_request = DynamicMessage::decode(kind, value).unwrap();
            let Value::List(violations) = bad_request
                .get_field_by_name("field_violations")
                .unwrap()
                .into_owned()
            else {
                panic!("violations")
            };
            for v in violations {
                let Value::Message(v) = v else { panic!() };
                fields.push(
                    v.get_field_by_name("field")
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    assert_eq!(fields, ["title", "difficulty"]);
}

async fn health_turns_not_serving_while_the_service_stops(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        None,
        &[("WHISTLE__GRPC__SHUTDOWN_NOTICE_SECS", "3")],
    )
    .await
    else {
        return;
    };
    let case = app.escalate(property_certificate("H-STOP-1")).await;
    let health = HealthClient::new(app.channel.clone());
    let status = |service: &'static str| {
        let mut health = health.clone();
        async move {
            health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .expect("health answers while the notice runs")
                .into_inner()
                .status()
        }
    };
    assert_eq!(status("").await, ServingStatus::Serving);
    app.shutdown.cancel();
    eventually("health says NOT_SERVING", || async {
        (status("").await == ServingStatus::NotServing).then_some(())
    })
    .await;
    for service in [CASES, DEPARTMENTS, SUPERVISION] {
        assert_eq!(
            status(service).await,
            ServingStatus::NotServing,
            "{service}"
        );
    }
    // Calls already on their way are still answered during the notice.
    assert_eq!(app.case(&case.id).await.id, case.id);
    app.stop().await;
}
