"""Unbound extension instances, initialised with the app in app.create_app()."""

from flask_caching import Cache
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from app.core.db import Base
from app.core.request_info import client_address
from app.core.schemas import ErrorSchema

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
jwt = JWTManager()
cache = Cache()
limiter = Limiter(key_func=client_address)


class ShopApi(Api):
    """flask-smorest's Api documenting our error body instead of its own."""

    ERROR_SCHEMA = ErrorSchema


api = ShopApi()
