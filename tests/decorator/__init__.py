"""Tests of the @cached decorator (distcache.decorator), its keys and its serializers."""
