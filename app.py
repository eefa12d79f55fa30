"""agentOS Jobs: the Chalice application (thin: it only registers the blueprints)."""
import sys

from chalice import Chalice

from chalicelib.api import api
from chalicelib.events import events
from chalicelib.webconsole import console

app = Chalice(app_name="agentos-jobs")
app.register_blueprint(api)
app.register_blueprint(events)
app.register_blueprint(console)

if "chalice.local" in sys.modules:  # served by `chalice local`, never on Lambda: 405 for every other method
    from devtools import chalice_local

    chalice_local.install()
