"""agentOS Jobs: the Chalice application (thin: it only registers the blueprints)."""
import sys

from chalice import Chalice

from chalicelib.api.routes import api
from chalicelib.api.webconsole import console
from chalicelib.handlers import events

app = Chalice(app_name="agentos-jobs")
app.register_blueprint(api)
app.register_blueprint(events)
app.register_blueprint(console)

if "chalice.local" in sys.modules:  # a chalice command loaded us (never Lambda): `chalice local` answers 405s
    try:
        from devtools import chalice_local
    except ImportError:  # `chalice package` stages app.py and chalicelib/ only: it serves nothing
        pass
    else:
        chalice_local.install()
