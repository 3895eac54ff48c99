"""Participation's writes, one module per feature: ``consultations``, ``calls``,
``referrals``, ``goals``, ``transparency``. The dashboard, the public pages, the API
and the tasks all call these; none of them writes a model directly."""
