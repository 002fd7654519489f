//! Signing in with a TLS client certificate. Where the page's listener asks
//! for client certificates (`http.tls.client_ca_file`, optional: the reply
//! page opens without one), a certificate that rustls verified at the
//! handshake and that maps to a principal by the rule gRPC uses
//! (`cert_subjects`, `cert_sans`) starts the same server-side session as a
//! mailed link, with one button on the sign-in page. The person on the
//! timeline is the certificate's holder: its e-mail address, else its
//! subject (`cuiping-office <CN=张伟>`). The certificate is the connection's,
//! never a header's. The button's form carries the form cookie's token like
//! every form shown before sign-in, so another site cannot post it for a
//! browser that holds a certificate.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};

use super::people::Person;
use super::sign_in::{form_checked, over_ip_allowance, started};
use super::{Console, error_page, forbidden};
use crate::http::PageState;
use crate::http::peer::Peer;
use crate::service::console::SignInFor;
use crate::tls::CertNames;
use crate::tls::principals::Unmapped;

/// What the connection's certificate does for signing in.
enum Holder {
    /// The listener asks for no certificate: nothing to show.
    Off,
    /// The person it signs in.
    Mapped(Person),
    /// Why it signs no one in, in words for the page.
    Refused(&'static str),
}

fn holder(console: &Console, peer: &Peer) -> Holder {
    let Some(certificates) = &console.certificates else {
        return Holder::Off;
    };
    let Some(der) = &peer.client_cert else {
        return Holder::Refused(
            "浏览器未出示数字证书。如需凭证书登录，请在浏览器中安装本单位的证书，重新打开本页并选择该证书。",
        );
    };
    let unmapped = "此数字证书未登记为任何单位的证书，不能用于登录工作台。";
    let Some(names) = CertNames::of(der) else {
        return Holder::Refused(unmapped);
    };
    match certificates.named(&names) {
        Ok(Some(actor)) => Holder::Mapped(Person {
            email: names.holder(),
            principal: actor.name,
            role: actor.role,
        }),
        Ok(None) | Err(Unmapped::Unreadable) => Holder::Refused(unmapped),
        Err(Unmapped::Ambiguous) => {
            Holder::Refused("此数字证书对应多个单位，不能用于登录工作台。请联系管理员。")
        }
    }
}

/// What the sign-in page shows of the connection's certificate: the holder
/// and principal beside the button, or why there is no button.
pub(super) fn offer(console: &Console, peer: &Peer) -> Option<Value> {
    match holder(console, peer) {
        Holder::Off => None,
        Holder::Mapped(person) => Some(context! {
            holder => person.email,
            principal => person.principal,
        }),
        Holder::Refused(why) => Some(context! { refusal => why }),
    }
}

/// `POST /console/certificate`: starts a session for the certificate's holder.
pub async fn sign_in(
    State(state): State<PageState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let console = &state.console;
    if !form_checked(&headers, &form) {
        return forbidden(console, None);
    }
    if let Some(refused) = over_ip_allowance(console, &peer) {
        return refused;
    }
    let person = match holder(console, &peer) {
        Holder::Mapped(person) => person,
        Holder::Off => {
            return console.message(
                StatusCode::FORBIDDEN,
                "无法用证书登录",
                "本服务未启用数字证书登录，请用工作邮箱登录。",
                None,
            );
        }
        Holder::Refused(why) => {
            return console.message(StatusCode::FORBIDDEN, "无法用证书登录", why, None);
        }
    };
    let who = SignInFor {
        email: person.email.clone(),
        principal: person.principal.clone(),
    };
    match state.whistle.sign_in_by_certificate(who).await {
        Ok(session) => {
            tracing::info!(
                principal = %person.principal,
                holder = %person.email,
                "signed in to the console with a client certificate"
            );
            started(console, session, &person.role)
        }
        Err(e) => error_page(&state, e, None),
    }
}
