using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>KH3002: a pointer from an allocator that can fail passed to an accessor before a NULL check on that path. Findings come from the shared allocation-provenance engine.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class UseBeforeNullCheckAnalyzer : ProvenanceRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH3002;
}
