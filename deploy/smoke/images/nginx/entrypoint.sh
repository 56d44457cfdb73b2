#!/bin/sh
# What the official nginx image does at start (its 20-envsubst-on-templates.sh): every
# *.template under NGINX_ENVSUBST_TEMPLATE_DIR is rendered by envsubst into
# NGINX_ENVSUBST_OUTPUT_DIR, filling in only the variables whose names match
# NGINX_ENVSUBST_FILTER (all set variables without one), so that nginx's own $variables
# are left as they are. Then the command runs.
set -eu

template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
filter=${NGINX_ENVSUBST_FILTER:-}

render_templates() {
    [ -d "$template_dir" ] || return 0
    # One word per variable name, as the official script splits them; ${name} is for
    # envsubst, not for this shell.
    # shellcheck disable=SC2016,SC2046
    defined=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print (name ~ /${filter}/) ? name : \"\" } }" < /dev/null))
    find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
        relative=${template#"$template_dir/"}
        output="$output_dir/${relative%"$suffix"}"
        mkdir -p "$(dirname "$output")"
        envsubst "$defined" < "$template" > "$output"
        echo "nginx stand-in: rendered $template to $output"
    done
}

if [ "${1:-}" = nginx ]; then
    render_templates
fi
exec "$@"
