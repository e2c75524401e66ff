using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>KH3004: an allocation neither freed, returned nor handed to an owner on a path that returns a negative errno. Findings come from the shared allocation-provenance engine.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LeakOnErrorPathAnalyzer : ProvenanceRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH3004;
}
