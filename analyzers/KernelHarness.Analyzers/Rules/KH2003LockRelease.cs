using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>KH2003: a lock not released on an exit path, acquired twice, or released while not held. Findings come from the shared context engine.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LockReleaseAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH2003;
}
