"""Content-Security-Policy overrides shared by views that show untrusted mail HTML."""

# Mail HTML (a campaign preview, an outbox message) is shown only in a sandboxed frame,
# with no script and no way out; images may come from anywhere a mail client loads them.
MAIL_PREVIEW_POLICY = {
    "default-src": ["'none'"],
    "script-src": None,
    "style-src": ["'unsafe-inline'"],
    "img-src": ["data:", "https:"],
    "frame-ancestors": ["'self'"],
    "sandbox": True,
}
