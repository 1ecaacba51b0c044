"""Repository-wide pytest setup.

With ``--import-mode=importlib`` pytest names a test module after its path (``gateway.tests.test_forms``); unless the
real ``gateway`` package is imported first, the *directory* ``gateway/`` becomes a namespace package of that name and
hides it. Importing it here, before collection, keeps the installed package in ``sys.modules``.
"""
import gateway  # noqa: F401
