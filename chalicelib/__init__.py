# Cold starts: pydantic builds each model's validator and serializer when the class is defined, about 1 ms a
# model, and the app defines hundreds that a given Lambda invocation mostly never uses. Deferred, each is
# built on its first use instead. Set on BaseModel's config before any model here is defined, so every
# model inherits it (a model may still set `defer_build=False`).
from pydantic import BaseModel as _BaseModel

_BaseModel.model_config["defer_build"] = True
