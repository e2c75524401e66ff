using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>KH2001: get_cpu()/preempt_disable() not undone on an exit path, or put_cpu() with nothing to undo. Findings come from the shared context engine.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PreemptionBalanceAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH2001;
}
