"""Shell completion scripts made from the argparse definitions (`deepnet completion
bash|zsh`): the commands, each command's options, and files for the rest. zsh loads the
bash script through its bashcompinit, so both complete the same way."""

from __future__ import annotations

import argparse


def _commands(p: argparse.ArgumentParser) -> dict[str, list[str]]:
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return {name: sorted(o for a in cmd._actions for o in a.option_strings
                         if a.help != argparse.SUPPRESS)
            for name, cmd in sub.choices.items()}


def bash(p: argparse.ArgumentParser) -> str:
    commands = _commands(p)
    cases = "".join(f"        {name}) opts=\"{' '.join(opts)}\" ;;\n"
                    for name, opts in commands.items())
    top = " ".join([*commands, "--help", "--version"])
    return f"""# deepnet completion for bash: source it, or put it in bash-completion's folder
_deepnet() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} cmd=${{COMP_WORDS[1]}} opts
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "{top}" -- "$cur"))
        return
    fi
    case $cmd in
{cases}        *) opts="" ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -o filenames -F _deepnet deepnet
"""


def zsh(p: argparse.ArgumentParser) -> str:
    return ("#compdef deepnet\n# deepnet completion for zsh (through bashcompinit)\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + bash(p))


SHELLS = {"bash": bash, "zsh": zsh}


def script(p: argparse.ArgumentParser, shell: str) -> str:
    return SHELLS[shell](p)
