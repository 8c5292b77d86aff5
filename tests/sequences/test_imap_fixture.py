from tests.fixtures.imap import ImapServer


def test_the_local_server_takes_mail_and_peek_leaves_it_unread(
    imap_server: ImapServer, imap_folder: str
) -> None:
    imap_server.append(imap_folder, b"Subject: hi\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n")
    with imap_server.client() as client:
        info = client.select_folder(imap_folder, readonly=True)
        assert info[b"EXISTS"] == 1
        (uid,) = client.search(["ALL"])
        fetched = client.fetch([uid], ["BODY.PEEK[HEADER]"])
        assert b"Message-ID: <a@b>" in fetched[uid][b"BODY[HEADER]"]
    assert imap_server.seen(imap_folder) == []
