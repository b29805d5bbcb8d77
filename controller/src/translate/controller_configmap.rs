//! The controller ConfigMap (`--configmap NS/NAME`, ingress-nginx's flag):
//! the keys Sluice honours, each checked with a diagnostic on its field.

use super::Translator;
use sluice_config::{Diagnostic, LogEscape, LogFormat, ObjectRef};

/// Keys read here; any other is reported as not honoured.
const HONOURED: &[&str] = &["log-format-upstream", "log-format-escape-json", "log-format-escape-none"];

impl Translator<'_> {
    /// The access-log line the ConfigMap asks for; `None` keeps
    /// ingress-nginx's default. A line that cannot be written (a variable
    /// Sluice does not have) is an error on the ConfigMap, so its last good
    /// version keeps serving.
    pub(super) fn access_log_format(&mut self) -> Option<LogFormat> {
        let name = self.options.configmap.clone()?;
        let (ns, cm) = name.split_once('/').unwrap_or(("default", name.as_str()));
        let r = ObjectRef::new("ConfigMap", ns, cm);
        let Some(map) = self.store.config_maps.get(&(ns.to_owned(), cm.to_owned())) else {
            self.diags.push(Diagnostic::warning(r, "", "named by --configmap but not found; its defaults are used"));
            return None;
        };
        let data = map.data.clone().unwrap_or_default();
        for key in data.keys().filter(|k| !HONOURED.contains(&k.as_str())) {
            self.diags.push(Diagnostic::warning(r.clone(), format!("data[{key}]"), "not supported; ignored"));
        }
        let flag = |diags: &mut super::Diagnostics, key: &str| match data.get(key).map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                diags.push(Diagnostic::warning(
                    r.clone(),
                    format!("data[{key}]"),
                    format!("'{other}' is not true or false; false is used"),
                ));
                false
            }
        };
        let escape =
            match (flag(&mut self.diags, "log-format-escape-json"), flag(&mut self.diags, "log-format-escape-none")) {
                (true, _) => LogEscape::Json,
                (false, true) => LogEscape::None,
                (false, false) => LogEscape::Default,
            };
        let format = LogFormat { format: data.get("log-format-upstream")?.clone(), escape };
        match format.parse() {
            Ok(_) => Some(format),
            Err(e) => {
                self.diags.push(Diagnostic::error(
                    r,
                    "data[log-format-upstream]",
                    format!("{e}; the line is not changed"),
                ));
                None
            }
        }
    }
}
