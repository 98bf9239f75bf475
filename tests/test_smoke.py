from app.models import Role
from tests.factories import make_user


def test_login_page_is_japanese_by_default(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert "ログイン" in page.get_data(as_text=True)


def test_admin_logs_in_and_sees_users(client, db, auth):
    make_user(db, role=Role.ADMIN, login="root1")
    db.commit()
    assert auth.login("root1").status_code == 302
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert "root1" in page.get_data(as_text=True)
