using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>KH3001: memory from one allocator returned to another (another family, another cache, another page order), followed through locals, fields, parameters and helpers. Findings come from the shared allocation-provenance engine.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class MismatchedFreeAnalyzer : ProvenanceRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH3001;
}
