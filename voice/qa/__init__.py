"""Quality assurance: replay of calls, evaluation of question sets, knowledge-base checks, prerendering."""
