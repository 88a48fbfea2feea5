"""Wiring only: the Chalice app and its blueprints. Logic lives in chalicelib/."""

from chalice.app import Chalice

from chalicelib.api import customers, system, tags, users
from chalicelib.api.fallbacks import add_method_fallbacks
from chalicelib.workers import events

app = Chalice(app_name="scrm")

for blueprint in (system.bp, customers.bp, tags.bp, users.bp, events.bp):
    app.register_blueprint(blueprint)

add_method_fallbacks(app)
