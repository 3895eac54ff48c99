"""Sample inputs shared by the campaign tests and the render benchmark."""

from campaigns.rendering import DEFAULT_LAYOUTS, RenderInput

RELEASE_BODY = """Hello {{ subscriber.name|default:"friend" }},

Demo **2.0** brings a plugin API. Read [the guide](https://demo.example.org/docs/plugins).

```console
$ pip install --upgrade demo==2.0.0
```

![The new plugin manager](https://demo.example.org/img/plugins.png)

---

## Added
- Plugin API (`demo.plugins`).
- `--json` output for every command.

## Fixed
- Startup is 3 times faster on large projects.

| Platform | Status |
|---|---|
| Linux | supported |
| macOS | supported |
"""


def layout_source(name: str = "Announcement") -> str:
    return next(stock for stock in DEFAULT_LAYOUTS if stock.name == name).mjml()


def make_input(**overrides) -> RenderInput:
    values = {
        "layout": layout_source(),
        "body": RELEASE_BODY,
        "body_format": "markdown",
        "subject": "Demo 2.0 is out",
        "preheader": "A plugin API and faster startup",
        "newsletter_name": "Demo Project News",
        "postal_address": "Demo Project Association\n1 Example Street\n75000 Paris",
    }
    values.update(overrides)
    return RenderInput(**values)
