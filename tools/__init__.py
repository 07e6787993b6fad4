"""Tools around the hotline, not part of it: load clients, SIPp helpers, pcap writers, the call simulator."""
