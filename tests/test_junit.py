"""The JUnit XML file of the gated checks, read back with ElementTree (an independent parser of the file)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from mrl_eval.errors import MrlEvalError
from mrl_eval.report.junit import Check, junit_xml, write_junit


def test_junit_xml_counts_and_marks_failures():
    checks = [Check("s", "ok", True, "fine"), Check("s", "bad <dim>", False, 'fell & "dropped"', "details")]
    root = ET.fromstring(junit_xml("mrl-eval test", checks))
    suite = root.find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failure = suite.findall("testcase")[1].find("failure")
    assert failure is not None and failure.get("message") == 'fell & "dropped"' and failure.text == "details"
    assert suite.findall("testcase")[1].get("name") == "bad <dim>"  # escaped in the file, intact when parsed


def test_write_junit_replaces_the_file_whole_and_readable(tmp_path):
    path = tmp_path / "out" / "junit.xml"
    write_junit(path, "one", [Check("s", "a", True, "m")])
    write_junit(path, "two", [Check("s", "b", False, "m")])
    assert ET.parse(path).getroot().find("testsuite").get("name") == "two"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["junit.xml"]  # no temporary file left


def test_write_junit_into_a_file_that_is_a_folder_is_an_input_error(tmp_path):
    (tmp_path / "junit.xml").mkdir()
    with pytest.raises(MrlEvalError, match="cannot write the JUnit file .*junit.xml.*--junit-xml"):
        write_junit(tmp_path / "junit.xml", "s", [])
