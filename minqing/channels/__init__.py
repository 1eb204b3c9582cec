"""Channel adapters: each turns one kind of input file into Items and Rejections."""

from minqing.channels.base import ChannelParser, file_checksum, get_parser, registered_channels

__all__ = ["ChannelParser", "file_checksum", "get_parser", "registered_channels"]
