//! Which Ingresses this instance serves.

use super::Translator;
use k8s_openapi::api::networking::v1::Ingress;
use sluice_config::{Diagnostic, ObjectRef};

const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

impl Translator<'_> {
    /// Whether the Ingress belongs to `--ingress-class`; says why when not.
    pub(super) fn is_ours(&mut self, ing: &Ingress, r: &ObjectRef) -> bool {
        let ours = &self.options.ingress_class;
        let spec_class = ing.spec.as_ref().and_then(|s| s.ingress_class_name.as_deref()).filter(|c| !c.is_empty());
        let annotation = ing.metadata.annotations.as_ref().and_then(|a| a.get(CLASS_ANNOTATION)).map(String::as_str);
        let (class, field) = match (spec_class, annotation) {
            (Some(spec), Some(annotation)) if spec != annotation => {
                self.diags.push(Diagnostic::error(
                    r.clone(),
                    format!("metadata.annotations[{CLASS_ANNOTATION}]"),
                    format!(
                        "'{annotation}' contradicts spec.ingressClassName '{spec}'; the API server rejects both set \
                         with different values, so the Ingress is left out"
                    ),
                ));
                return false;
            }
            (Some(spec), _) => (spec, "spec.ingressClassName".to_owned()),
            (None, Some(annotation)) => (annotation, format!("metadata.annotations[{CLASS_ANNOTATION}]")),
            (None, None) => {
                if self.we_are_default_class() {
                    return true;
                }
                self.diags.push(Diagnostic::info(
                    r.clone(),
                    "spec.ingressClassName",
                    format!(
                        "no ingress class, and IngressClass '{ours}' is not marked {DEFAULT_CLASS_ANNOTATION}: not served"
                    ),
                ));
                return false;
            }
        };
        if class == ours {
            return true;
        }
        self.diags.push(Diagnostic::info(
            r.clone(),
            field,
            format!("class '{class}' is not served by this instance (--ingress-class {ours})"),
        ));
        false
    }

    fn we_are_default_class(&self) -> bool {
        let key = (String::new(), self.options.ingress_class.clone());
        self.store
            .ingress_classes
            .get(&key)
            .and_then(|c| c.metadata.annotations.as_ref())
            .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
            .is_some_and(|v| v == "true")
    }
}
