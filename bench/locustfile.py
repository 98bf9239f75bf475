"""Locust users for ``bench/portal.py``: trainees polling their team page, instructors their live view.

The plan (logins, ids and the pages each kind of user polls) comes from the
JSON file named by ``MAMORI_BENCH_PLAN``; ``bench/portal.py`` writes it and
reads the statistics back. Every user logs in through the login form (with
its CSRF token), as a browser does, then waits for the end of the warm-up
(everyone logged in; the statistics are reset then) and polls; ``/healthz``
is polled as often by everyone, as the baseline measured under the same load.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re
import time

import gevent
from locust import HttpUser, between, events, task

PLAN = json.loads(open(os.environ["MAMORI_BENCH_PLAN"], encoding="utf-8").read())
_TRAINEES = itertools.cycle(PLAN["trainees"])
_INSTRUCTORS = itertools.cycle(PLAN["instructors"])
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
MEASURE_FROM = time.time() + PLAN["warmup"]


@events.init.add_listener
def _reset_after_warmup(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    def reset() -> None:
        gevent.sleep(max(0.0, MEASURE_FROM - time.time()))
        environment.runner.stats.reset_all()

    gevent.spawn(reset)


class _Person(HttpUser):
    abstract = True
    pages: list[list[str]] = []  # [name, path] in PLAN, with {team}/{exercise} filled in per user

    def log_in(self, login: str) -> None:
        page = self.client.get("/login", name="login form")
        token = _CSRF.search(page.text)
        assert token, "no CSRF token on the login page"
        response = self.client.post("/login", name="login", allow_redirects=False, data={
            "login": login, "password": PLAN["password"], "csrf_token": token.group(1)})
        if response.status_code != 302:
            response.failure(f"login {login}: {response.status_code}")

    def poll(self) -> None:
        if time.time() < MEASURE_FROM:  # logins still going on: wait, as a person reading the page would
            gevent.sleep(MEASURE_FROM - time.time() + self.wait_time() * random.random())
        for name, path in self.pages:
            self.client.get(path, name=name)
        self.client.get("/healthz", name="baseline /healthz")


class Trainee(_Person):
    weight = PLAN["trainee_weight"]
    wait_time = between(PLAN["trainee_every"] * 0.8, PLAN["trainee_every"] * 1.2)

    def on_start(self) -> None:
        person = next(_TRAINEES)
        self.log_in(person["login"])
        self.pages = [[name, path.format(**person)] for name, path in PLAN["trainee_pages"]]

    @task
    def poll_team(self) -> None:
        self.poll()


class Instructor(_Person):
    weight = PLAN["instructor_weight"]
    wait_time = between(PLAN["instructor_every"] * 0.8, PLAN["instructor_every"] * 1.2)

    def on_start(self) -> None:
        person = next(_INSTRUCTORS)
        self.log_in(person["login"])
        self.pages = [[name, path.format(**person)] for name, path in PLAN["instructor_pages"]]

    @task
    def poll_live(self) -> None:
        self.poll()
