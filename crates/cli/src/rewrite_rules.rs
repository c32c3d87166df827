//! mod_wsgi-express's `--rewrite-rules FILE`: mod_rewrite rules that express includes in the
//! document root's `<Directory>` section. oxwsgi has no mod_rewrite, so the file is checked
//! in that same place like an `--include-file`: an empty file (what express writes by default)
//! is fine, a `RewriteRule`, `RewriteCond` or `RewriteBase` is refused naming its line, or
//! skipped with a warning under `--ignore-unsupported`.

use std::path::Path;

use oxwsgi_config::ServerConfig;
use oxwsgi_config::apache;
use oxwsgi_config::cli::StartServer;
use oxwsgi_config::resolve::Environment;

/// Applies the `--rewrite-rules` file, if any, on top of the configuration.
pub(crate) fn apply(
    args: &StartServer,
    env: &Environment,
    config: &mut ServerConfig,
) -> Result<(), String> {
    let Some(file) = &args.express.rewrite_rules else {
        return Ok(());
    };
    let file = env.current_dir.join(file);
    // Read here so that a missing file is named as the option's, not as an Include's.
    std::fs::metadata(&file).map_err(|err| {
        format!(
            "the --rewrite-rules file '{}' cannot be read: {err}",
            file.display()
        )
    })?;
    let text = wrapper(&config.document_root, &file);
    let options = crate::read_options(&args.define);
    let wrapped = file.with_file_name("(--rewrite-rules)");
    let files = apache::read_text(&wrapped, &text, &options).map_err(|err| err.to_string())?;
    let checked = apache::check(&files, args.ignore_unsupported);
    let applied = if checked.has_errors() {
        Err(Vec::new())
    } else {
        apache::apply_include(&files, &checked, env, config)
    };
    crate::told(&checked, applied, "--rewrite-rules file")
}

/// The file included in the document root's `<Directory>`, as express writes it.
fn wrapper(document_root: &Path, file: &Path) -> String {
    format!(
        "<Directory \"{}\">\nInclude \"{}\"\n</Directory>\n",
        document_root.display(),
        file.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_are_read_in_the_document_roots_directory() {
        assert_eq!(
            wrapper(Path::new("/srv/htdocs"), Path::new("/srv/rewrite.conf")),
            "<Directory \"/srv/htdocs\">\nInclude \"/srv/rewrite.conf\"\n</Directory>\n"
        );
    }
}
