//! What a reply's file really is. A file's name and its declared type are the
//! sender's to choose: `答复.pdf` sent as `text/html` may be a web page, and a
//! `.pdf` whose first bytes are `MZ` is a Windows program. So the type is read
//! from the bytes (the `infer` crate's table of magic numbers): a file whose
//! bytes say something else than its extension is refused at upload, and a
//! file is served with the type its bytes have, among the documents and
//! images a reply carries, else as `application/octet-stream`, under a name
//! without paths, control characters or bidirectional overrides
//! (`x\u{202e}fdp.exe` shows as `xexe.pdf`).

use infer::MatcherType;

use super::error::FieldViolation;
use super::text::reorders_or_breaks;

/// The type a file is served with when its bytes are nothing a reply is
/// expected to carry: a download, never rendered.
pub const OPAQUE: &str = "application/octet-stream";

/// What the bytes are, by their magic numbers; `None` for plain text and for
/// anything the table does not know.
fn sniff(bytes: &[u8]) -> Option<infer::Type> {
    infer::get(bytes)
}

/// Types a reply's files may be served as: documents, images, PDF and ZIP
/// (OFD and the Office formats are ZIP inside). Never HTML, XML, scripts or
/// programs, which a client could run.
fn servable(t: &infer::Type) -> bool {
    match t.matcher_type() {
        MatcherType::Image | MatcherType::Doc => true,
        MatcherType::Archive => matches!(t.mime_type(), "application/pdf" | "application/zip"),
        _ => false,
    }
}

/// The content type to answer a file with: sniffed from its bytes, or
/// `application/octet-stream`.
pub fn served_type(bytes: &[u8]) -> &'static str {
    sniff(bytes)
        .filter(servable)
        .map_or(OPAQUE, |t| t.mime_type())
}

/// The types each known extension's bytes may have, and whether they must
/// have one: a PDF always starts `%PDF`, a text file has no magic at all.
fn family(extension: &str) -> Option<(&'static [&'static str], bool)> {
    const CFB: &[&str] = &[
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
    ];
    const OOXML: &[&str] = &[
        "application/zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ];
    Some(match extension {
        "pdf" => (&["application/pdf"], true),
        "jpg" | "jpeg" => (&["image/jpeg"], true),
        "png" => (&["image/png"], true),
        "gif" => (&["image/gif"], true),
        "doc" | "xls" | "ppt" => (CFB, true),
        "docx" | "xlsx" | "pptx" => (OOXML, true),
        // OFD (GB/T 33190) is a ZIP package.
        "ofd" | "zip" => (&["application/zip"], true),
        // WPS Office's own formats: OLE compound files the table may not
        // name, or the Office formats.
        "wps" | "et" | "dps" => (CFB, false),
        "txt" | "csv" => (&[], false),
        _ => return None,
    })
}

/// A file's extension, lowercase, without the dot; empty when it has none.
pub fn extension(filename: &str) -> String {
    filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_lowercase())
        .unwrap_or_default()
}

/// Refuses a file whose bytes are not what its extension says, naming
/// `field`, the file and what the bytes are. A program is refused whatever
/// its name.
pub fn check_fits(field: &str, filename: &str, bytes: &[u8]) -> Result<(), FieldViolation> {
    let ext = extension(filename);
    let found = sniff(bytes);
    let fits = match (&found, family(&ext)) {
        (Some(t), _) if t.matcher_type() == MatcherType::App => false,
        (Some(t), Some((mimes, _))) => {
            mimes.contains(&t.mime_type())
                || (mimes.is_empty() && t.matcher_type() == MatcherType::Text)
        }
        (None, Some((_, must_have_magic))) => !must_have_magic,
        // An extension the table does not know: the bytes must not say
        // another one.
        (Some(t), None) => t.extension() == ext,
        (None, None) => true,
    };
    if fits {
        return Ok(());
    }
    let what = found.map_or_else(
        || "of no type known for it".to_owned(),
        |t| format!("a .{} file ({})", t.extension(), t.mime_type()),
    );
    let what_zh = found.map_or_else(
        || "无法识别的内容".to_owned(),
        |t| format!(".{} 文件", t.extension()),
    );
    Err(FieldViolation::new(
        field,
        format!(
            "{:?} does not hold what its name says: its bytes are {what}",
            shown_name(filename)
        ),
    )
    .zh(format!(
        "「{}」的内容与扩展名不符：实为{what_zh}",
        shown_name(filename)
    )))
}

/// A file name as it may be shown and served: its last path part, without
/// control characters or the characters that reorder or break a line, at
/// most 200 characters; `attachment` when nothing is left.
pub fn shown_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !reorders_or_breaks(*c))
        .take(200)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        "attachment".to_owned()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n";
    const EXE: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
    const HTML: &[u8] = b"<!DOCTYPE html><html><script>alert(1)</script></html>";

    #[test]
    fn a_file_is_served_as_what_its_bytes_are() {
        assert_eq!(served_type(PDF), "application/pdf");
        assert_eq!(served_type(PNG), "image/png");
        assert_eq!(served_type(EXE), OPAQUE);
        assert_eq!(served_type(HTML), OPAQUE);
        assert_eq!(served_type("办结情况说明".as_bytes()), OPAQUE);
        assert_eq!(served_type(b""), OPAQUE);
    }

    #[test]
    fn the_bytes_must_be_what_the_extension_says() {
        assert!(check_fits("attachments", "答复.pdf", PDF).is_ok());
        assert!(check_fits("attachments", "照片.PNG", PNG).is_ok());
        assert!(check_fits("attachments", "说明.txt", "已办结".as_bytes()).is_ok());
        let exe = check_fits("attachments", "答复.pdf", EXE).unwrap_err();
        assert_eq!(exe.field, "attachments");
        assert!(exe.description.contains(".exe"), "{}", exe.description);
        assert!(
            exe.description_zh().contains("实为.exe 文件"),
            "{}",
            exe.description_zh()
        );
        // A program is refused whatever it is called.
        assert!(check_fits("attachments", "readme.txt", EXE).is_err());
        assert!(check_fits("attachments", "setup.exe", EXE).is_err());
        // A PDF without its magic, a picture that is a PDF.
        assert!(check_fits("attachments", "答复.pdf", b"hello").is_err());
        assert!(check_fits("attachments", "照片.jpg", PDF).is_err());
        // An extension the table does not know takes bytes that say nothing
        // else.
        assert!(check_fits("attachments", "data.bin", b"\x00\x01\x02").is_ok());
        assert!(check_fits("attachments", "data.bin", PDF).is_err());
    }

    #[test]
    fn names_lose_paths_controls_and_reordering() {
        assert_eq!(shown_name("C:\\docs\\答复.pdf"), "答复.pdf");
        assert_eq!(shown_name("../../etc/passwd"), "passwd");
        assert_eq!(shown_name("x\u{202e}fdp.exe"), "xfdp.exe");
        assert_eq!(shown_name("a\u{0}\nb.pdf"), "ab.pdf");
        assert_eq!(shown_name(" "), "attachment");
        assert_eq!(shown_name(".."), "attachment");
        assert_eq!(shown_name(&"长".repeat(300)).chars().count(), 200);
    }
}
