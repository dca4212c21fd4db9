//! An email's subject and HTML. Addresses are checked where they are written, when the rules
//! are loaded (RFC 5322 mailboxes, parsed by lettre).

use super::Finding;
use crate::render::message::EmailBody;

/// Elements that have no end tag (HTML Living Standard, "void elements").
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements whose end tag HTML lets a document leave out ("optional tags"): not tracked.
const OPTIONAL_END: &[&str] = &[
    "html", "head", "body", "p", "li", "dt", "dd", "option", "optgroup", "thead", "tbody", "tfoot",
    "tr", "td", "th", "colgroup", "caption", "rt", "rp",
];

pub fn check(email: &EmailBody) -> Vec<Finding> {
    let mut out = Vec::new();
    if email.subject.trim().is_empty() {
        out.push(Finding::error(
            "the email's subject is empty: mail clients show \"(no subject)\" and spam filters score it (RFC 5322 section 3.6.5)",
        ));
    }
    if email.text.trim().is_empty() && email.html.trim().is_empty() {
        out.push(Finding::error(
            "the email has neither a text nor an HTML body",
        ));
    }
    if let Some(problem) = unbalanced(&email.html) {
        out.push(Finding::warning(format!(
            "the email's HTML does not nest: {problem}; mail clients may show it broken"
        )));
    }
    out
}

/// The first element that is closed without being open, or left open, in `html`.
fn unbalanced(html: &str) -> Option<String> {
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        if let Some(after) = rest.strip_prefix("!--") {
            rest = after.split_once("-->").map_or("", |(_, r)| r);
            continue;
        }
        let end = rest.find('>')?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') || tag.ends_with('/') {
            continue;
        }
        let (closing, tag) = match tag.strip_prefix('/') {
            Some(t) => (true, t),
            None => (false, tag),
        };
        let name: String = tag
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if name.is_empty() || VOID.contains(&name.as_str()) || OPTIONAL_END.contains(&name.as_str())
        {
            continue;
        }
        if !closing {
            if name == "style" || name == "script" {
                let close = format!("</{name}");
                rest = rest.find(&close).map_or("", |i| &rest[i..]);
            }
            open.push(name);
            continue;
        }
        match open.iter().rposition(|n| *n == name) {
            Some(i) if i + 1 == open.len() => {
                open.pop();
            }
            Some(i) => return Some(format!("<{}> is not closed before </{name}>", open[i + 1])),
            None => return Some(format!("</{name}> closes nothing")),
        }
    }
    open.last().map(|n| format!("<{n}> is never closed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_nesting_is_checked() {
        assert_eq!(
            unbalanced(
                "<!DOCTYPE html><html><body><p>a<br><b>x</b><table><tr><td>1</table></body></html>"
            ),
            None
        );
        assert_eq!(
            unbalanced("<div><b>x</div>").as_deref(),
            Some("<b> is not closed before </div>")
        );
        assert_eq!(
            unbalanced("<div>").as_deref(),
            Some("<div> is never closed")
        );
        assert_eq!(
            unbalanced("</span>").as_deref(),
            Some("</span> closes nothing")
        );
        assert_eq!(unbalanced("<style>a<b{}</style><!-- <i> -->"), None);
    }

    #[test]
    fn an_empty_subject_is_an_error() {
        let email = EmailBody {
            subject: " ".into(),
            text: "t".into(),
            html: String::new(),
        };
        assert_eq!(check(&email).len(), 1);
    }
}
