using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>KH3003: the same allocation freed twice on a path within a method (directly or through a helper that always frees). Findings come from the shared allocation-provenance engine.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class DoubleFreeAnalyzer : ProvenanceRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH3003;
}
