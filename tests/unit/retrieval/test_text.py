import pytest

from actions.retrieval.text import Tokenizer
from actions.settings import PROJECT_ROOT


def test_chinese_ip_terms_stay_whole_and_stopwords_go():
    tokens = Tokenizer(PROJECT_ROOT / "bot" / "jieba").tokens("收到警告函怎么办？中日PPH要多久")
    assert "警告函" in tokens and "pph" in tokens and "中日" in tokens
    assert "怎么办" not in tokens


def test_english_is_lowercased_and_stemmed():
    tokens = Tokenizer().tokens("What does RCEP say about Trademarks?")
    assert tokens == ["rcep", "say", "trademark"]


def test_a_word_that_stems_to_a_stopword_is_no_search_term():
    assert Tokenizer().tokens("whats pph extra") == ["pph", "extra"]


@pytest.mark.filterwarnings("ignore:A test tried to use socket:UserWarning")  # the attempt this test makes
def test_tests_cannot_reach_the_network():
    import socket

    import pytest_socket

    with pytest.raises(pytest_socket.SocketConnectBlockedError):
        socket.create_connection(("93.184.215.14", 80), timeout=1)
