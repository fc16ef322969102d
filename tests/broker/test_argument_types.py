"""Argument types, as RabbitMQ 3.10.8 and 4.0.5 refuse them (measured with pika, which sends
`bytes` as an AMQP byte array; pamqp decodes those as `bytearray`)."""

from __future__ import annotations

from typing import Any

import pytest

from rabbitsim.broker import Broker, Channel, ChannelError
from rabbitsim.broker._message import Properties

Q = "queue 'argt' in vhost '/'"


@pytest.mark.parametrize(
    ("arguments", "reply_text"),
    [
        (
            {"x-dead-letter-exchange": bytearray(b"dlx")},
            f"invalid type 'binary' for arg 'x-dead-letter-exchange' in {Q}",
        ),
        ({"x-dead-letter-exchange": 5}, f"invalid type 'signedint' for arg 'x-dead-letter-exchange' in {Q}"),
        (
            {"x-dead-letter-exchange": "d", "x-dead-letter-routing-key": bytearray(b"k")},
            f"invalid arg 'x-dead-letter-routing-key' for {Q}: {{unacceptable_type,binary}}",
        ),
        (
            {"x-overflow": bytearray(b"drop-head")},
            f"invalid arg 'x-overflow' for {Q}: {{unacceptable_type,binary}}",
        ),
        (
            {"x-queue-type": bytearray(b"classic")},
            f"invalid arg 'x-queue-type' for {Q}: {{unacceptable_type,binary}}",
        ),
        (
            {"x-queue-mode": bytearray(b"lazy")},
            f"invalid arg 'x-queue-mode' for {Q}: {{unacceptable_type,binary}}",
        ),
        (
            {"x-message-ttl": bytearray(b"5")},
            f"invalid arg 'x-message-ttl' for {Q}: \"expected integer, got binary\"",
        ),
        ({"x-message-ttl": "5"}, f"invalid arg 'x-message-ttl' for {Q}: \"expected integer, got longstr\""),
        ({"x-expires": True}, f"invalid arg 'x-expires' for {Q}: \"expected integer, got bool\""),
        (
            {"x-single-active-consumer": bytearray(b"x")},
            f"invalid arg 'x-single-active-consumer' for {Q}: {{unacceptable_type,binary}}",
        ),
    ],
)
def test_queue_arguments_of_the_wrong_type_are_406(
    channel: Channel, arguments: dict[str, Any], reply_text: str
) -> None:
    with pytest.raises(ChannelError) as caught:
        channel.queue_declare("argt", auto_delete=True, arguments=arguments)
    assert (caught.value.reply_code, caught.value.reply_text) == (406, f"PRECONDITION_FAILED - {reply_text}")


def test_an_alternate_exchange_given_as_a_byte_array_is_406(channel: Channel) -> None:
    with pytest.raises(ChannelError) as caught:
        channel.exchange_declare("argt-x", "direct", arguments={"alternate-exchange": bytearray(b"alt")})
    assert caught.value.reply_text == (
        "PRECONDITION_FAILED - invalid type 'binary' for arg 'alternate-exchange' "
        "in exchange 'argt-x' in vhost '/'"
    )


@pytest.mark.parametrize("text", ["dlx", b"dlx"])
def test_long_strings_are_accepted_as_text(channel: Channel, text: str | bytes) -> None:
    """pamqp gives a long string as `str`, or as `bytes` when it is not UTF-8."""
    channel.queue_declare("argt", arguments={"x-dead-letter-exchange": text, "x-queue-mode": text})
    assert "argt" in channel.vhost.queues


@pytest.mark.parametrize(
    ("expiration", "reason"),
    [
        ("abc", "no_integer"),
        ("", "no_integer"),
        (" 5", "no_integer"),
        ("é", "no_integer"),
        ("-1", "{value_negative,-1}"),
        ("5abc", '{leftover_string,"abc"}'),
        ("1.5", '{leftover_string,".5"}'),
        ("+5", None),
        ("007", None),
        ("4294967296", None),
    ],
)
def test_the_expiration_property_must_be_whole_milliseconds(
    channel: Channel, expiration: str, reason: str | None
) -> None:
    """Measured with pika on 3.10.8 and 4.0.5: a bad expiration closes the channel with 406."""
    channel.queue_declare("q")
    publish = lambda: channel.basic_publish("", "q", b"x", Properties(expiration=expiration))  # noqa: E731
    if reason is None:
        publish()
        assert len(channel.vhost.queues["q"].ready) == 1
        return
    with pytest.raises(ChannelError) as caught:
        publish()
    assert (caught.value.reply_code, caught.value.reply_text) == (
        406,
        f"PRECONDITION_FAILED - invalid expiration '{expiration}': {reason}",
    )
    assert not channel.is_open


def test_a_reply_text_longer_than_a_short_string_ends_in_an_ellipsis(channel: Channel) -> None:
    name = "x" * 255
    with pytest.raises(ChannelError) as caught:
        channel.queue_declare(name, passive=True)
    text = caught.value.reply_text
    assert len(text.encode()) == 255
    assert text == f"NOT_FOUND - no queue '{name}"[:252] + "..."


@pytest.mark.parametrize(
    ("profile", "first", "second", "reply_text"),
    [
        ("3.10", {}, {"x-queue-type": "classic"}, None),
        (
            "3.10",
            {"x-queue-type": "quorum"},
            {},
            "received none but current is the value 'quorum' of type 'longstr'",
        ),
        (
            "3.10",
            {"x-queue-type": "quorum"},
            {"x-queue-type": "classic"},
            "received 'classic' but current is 'quorum'",
        ),
        (
            "3.10",
            {},
            {"x-queue-type": "quorum"},
            "received the value 'quorum' of type 'longstr' but current is none",
        ),
        ("4.0", {}, {"x-queue-type": "classic"}, None),
        ("4.0", {"x-queue-type": "quorum"}, {}, "received 'classic' but current is 'quorum'"),
        ("4.0", {}, {"x-queue-type": "quorum"}, "received 'quorum' but current is 'classic'"),
    ],
)
def test_the_queue_type_on_redeclare_follows_the_version_profile(
    profile: str, first: dict[str, Any], second: dict[str, Any], reply_text: str | None
) -> None:
    """Measured on 3.10.8 and 4.0.5: 4.0 records the type it chose, 3.10 only equates an
    explicit 'classic' with no type."""
    channel = Broker(profile=profile).connect().open_channel(1)
    channel.queue_declare("qt", durable=True, arguments=first)
    if reply_text is None:
        channel.queue_declare("qt", durable=True, arguments=second)
        return
    with pytest.raises(ChannelError) as caught:
        channel.queue_declare("qt", durable=True, arguments=second)
    assert caught.value.reply_text == (
        f"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'qt' in vhost '/': {reply_text}"
    )


@pytest.mark.parametrize("mode", [0, 3, 5, 255])
@pytest.mark.parametrize("profile", ["3.10", "4.0"])
def test_an_unknown_delivery_mode_is_refused_by_3_10_and_relayed_by_4_0(profile: str, mode: int) -> None:
    """Measured with pika: 3.10.8 closes the channel with 406, 4.0.5 delivers the value as sent."""
    channel = Broker(profile=profile).connect().open_channel(1)
    channel.queue_declare("q")
    if profile == "4.0":
        channel.basic_publish("", "q", b"x", Properties(delivery_mode=mode))
        got = channel.basic_get("q")
        assert got is not None and got.message.properties.delivery_mode == mode
        return
    with pytest.raises(ChannelError) as caught:
        channel.basic_publish("", "q", b"x", Properties(delivery_mode=mode))
    assert (
        caught.value.reply_text == f"PRECONDITION_FAILED - invalid message: {{delivery_mode_unknown,{mode}}}"
    )
