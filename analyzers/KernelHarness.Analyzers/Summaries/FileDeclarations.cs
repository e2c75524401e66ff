using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>
/// A file's declarations with code (bodies, expression bodies, initializers, attributes), in source order, and
/// which of them mention a name: have an identifier token of that value in their code (a method's body, not its
/// own name or signature). The candidates for a question about a symbol of that name, found from syntax alone.
/// <para>
/// A mention is looked for in the file's text, and each place the name occurs is kept only when it is such a token
/// (<see cref="SyntaxNode.FindToken"/>): a few string searches per question instead of a walk over every token
/// of every file. A file whose text may spell an identifier other than as written (a <c>\u</c> escape, a
/// formatting character) has its tokens walked instead: both ways find the same tokens.
/// </para>
/// </summary>
internal sealed class FileDeclarations
{
    private readonly SyntaxTree tree;
    private string? text;
    private int textState; // 0: not looked at, 1: searched as text, 2: tokens walked

    private FileDeclarations(SyntaxTree tree, List<SyntaxNode> declarations)
    {
        this.tree = tree;
        Declarations = declarations;
    }

    /// <summary>The file's declarations with code, found from its syntax.</summary>
    public static FileDeclarations Of(SyntaxTree tree)
    {
        var list = new List<SyntaxNode>();
        Collect(tree.GetRoot(), list);
        return new FileDeclarations(tree, list);
    }

    /// <summary>
    /// The declarations with code below <paramref name="node"/>, in the order <c>DescendantNodes</c> gives (each
    /// node before its children, so a member before its attributes). Declarations are descended for their
    /// attributes and parameters, never into code. (A hand walk: the iterator costs more than the visit.)
    /// </summary>
    private static void Collect(SyntaxNode node, List<SyntaxNode> into)
    {
        foreach (var child in node.ChildNodesAndTokens())
        {
            if (!child.IsNode)
                continue;
            var n = child.AsNode()!;
            if (IsDeclarationWithCode(n))
                into.Add(n);
            if (!IsCode(n))
                Collect(n, into);
        }
    }

    /// <summary>Code, or a node that holds only code: nothing below it is a declaration of the file's.</summary>
    internal static bool IsCode(SyntaxNode node)
        => node is BlockSyntax or ArrowExpressionClauseSyntax or EqualsValueClauseSyntax or AttributeSyntax or ExpressionSyntax or StatementSyntax;

    /// <summary>The nodes whose code is bound as one unit: bodies, expression bodies, initializers, attributes.</summary>
    public static bool IsDeclarationWithCode(SyntaxNode node) => node switch
    {
        BaseMethodDeclarationSyntax m => m.Body is not null || m.ExpressionBody is not null,
        AccessorDeclarationSyntax a => a.Body is not null || a.ExpressionBody is not null,
        ArrowExpressionClauseSyntax arrow => arrow.Parent is PropertyDeclarationSyntax or IndexerDeclarationSyntax,
        EqualsValueClauseSyntax eq => eq.Parent is VariableDeclaratorSyntax { Parent.Parent: FieldDeclarationSyntax } or PropertyDeclarationSyntax && !IsTrivialInitializer(eq),
        AttributeSyntax => true,
        _ => false,
    };

    /// <summary>
    /// A field or property initializer with nothing for a rule to see: a literal, <c>null</c>, <c>default</c>,
    /// or a parameterless <c>new()</c> (the type is the member's own, which KH9001 checks on the declaration).
    /// It is not a declaration with code for the index: never scanned, never bound (the compiler binds no
    /// initializer for the driver's models, so each one would be bound again), and it mentions no member.
    /// </summary>
    private static bool IsTrivialInitializer(EqualsValueClauseSyntax eq) => eq.Value switch
    {
        LiteralExpressionSyntax or DefaultExpressionSyntax => true,
        ImplicitObjectCreationExpressionSyntax { ArgumentList.Arguments.Count: 0, Initializer: null } => true,
        _ => false,
    };

    /// <summary>The declarations with code, in source order (a member before its attributes).</summary>
    public List<SyntaxNode> Declarations { get; }

    // The type declaration whose members were last asked for, with its symbol: a file's members are scanned in
    // order, type by type. (One object, replaced whole: a thread never reads a symbol with another's syntax.)
    private volatile DeclaredTypeOf? lastType;

    private sealed class DeclaredTypeOf(TypeDeclarationSyntax syntax, INamedTypeSymbol? symbol)
    {
        public readonly TypeDeclarationSyntax Syntax = syntax;
        public readonly INamedTypeSymbol? Symbol = symbol;
    }

    /// <summary>The type a type declaration of this file declares (<paramref name="model"/> is the file's).</summary>
    public INamedTypeSymbol? DeclaredType(SemanticModel model, TypeDeclarationSyntax syntax)
    {
        if (lastType is { } last && last.Syntax == syntax)
            return last.Symbol;
        var found = new DeclaredTypeOf(syntax, model.GetDeclaredSymbol(syntax));
        lastType = found;
        return found.Symbol;
    }

    /// <summary>The file's methods and scans, once scanned (see <see cref="CompilationIndex"/>).</summary>
    public List<IMethodSymbol>? Methods;
    public List<DeclarationScan>? Scans;

    /// <summary>
    /// Adds to <paramref name="into"/> the declarations whose code mentions <paramref name="name"/> within
    /// <paramref name="span"/> (the whole file when null), in source order, each once.
    /// </summary>
    public void FindMentions(string name, TextSpan? span, ref Few<SyntaxNode> into)
    {
        if (Declarations.Count == 0)
            return;
        var within = span ?? new TextSpan(0, tree.Length);
        if (SearchableText() is { } source)
            Search(source, name, within, ref into);
        else
            Walk(name, within, ref into);
    }

    /// <summary>What <see cref="FindMentions"/> finds, by walking every token (as for a file that is not plain text): the tests' reference.</summary>
    internal void FindMentionsByWalking(string name, TextSpan? span, ref Few<SyntaxNode> into)
    {
        if (Declarations.Count > 0)
            Walk(name, span ?? new TextSpan(0, tree.Length), ref into);
    }

    /// <summary>The text, when every identifier in it is spelled as its value (no escape, no formatting character).</summary>
    private string? SearchableText()
    {
        // (Two threads may both look: they find the same, and the text is set before the state says so.)
        if (System.Threading.Volatile.Read(ref textState) == 0)
        {
            // A tree made from nodes has no text to search, only one to rebuild: its tokens are walked.
            string? source = tree.TryGetText(out var sourceText) ? sourceText.ToString() : null;
            text = source is not null && IsPlain(source) ? source : null;
            System.Threading.Volatile.Write(ref textState, text is null ? 2 : 1);
        }
        return text;
    }

    private static bool IsPlain(string source)
    {
        for (int i = 0; i < source.Length; i++)
        {
            char c = source[i];
            if (c < 0x80 && c != '\\')
                continue;
            if (c == '\\' ? i + 1 < source.Length && source[i + 1] is 'u' or 'U' : char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format)
                return false;
        }
        return true;
    }

    private void Search(string source, string name, TextSpan within, ref Few<SyntaxNode> into)
    {
        int end = within.End - name.Length;
        for (int at = within.Start; at <= end; at++)
        {
            at = source.IndexOf(name, at, end - at + name.Length, System.StringComparison.Ordinal);
            if (at < 0)
                break;
            // A name inside a longer word is no mention; the token decides the rest (comments, strings, '@').
            if (at > 0 && SyntaxFacts.IsIdentifierPartCharacter(source[at - 1]))
                continue;
            if (at + name.Length < source.Length && SyntaxFacts.IsIdentifierPartCharacter(source[at + name.Length]))
                continue;
            // Most places outside code (a declaration's own name) are told apart by position alone; the token is
            // found from the declaration holding the place, not from the file's root.
            if (HolderOf(at) is not { } holder)
                continue;
            var token = holder.FindToken(at);
            if (token.IsKind(SyntaxKind.IdentifierToken) && token.Span.Contains(at) && token.ValueText == name)
                into.Add(holder);
        }
    }

    private void Walk(string name, TextSpan within, ref Few<SyntaxNode> into)
    {
        foreach (var token in tree.GetRoot().DescendantTokens(within))
            if (token.IsKind(SyntaxKind.IdentifierToken) && within.Contains(token.Span) && token.ValueText == name)
                if (HolderOf(token.SpanStart) is { } holder)
                    into.Add(holder);
    }

    /// <summary>The declaration whose code holds the position, if any (its own name, signature or a parameter's default is not its code).</summary>
    private SyntaxNode? HolderOf(int position)
    {
        // Declarations nest only as a member and its attributes (a property is no declaration with code, its
        // accessors are): the holder is the last one, from the position back, whose span contains the position,
        // when its code does too.
        for (int i = LastStartingAtOrBefore(position); i >= 0; i--)
        {
            var d = Declarations[i];
            if (d.Span.Contains(position))
                return CodeContains(d, position) ? d : null;
        }
        return null;
    }

    private int LastStartingAtOrBefore(int position)
    {
        int lo = 0, hi = Declarations.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (Declarations[mid].SpanStart <= position)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    /// <summary>Is the position in the declaration's code: a method's or accessor's body (and a constructor's initializer), or the whole initializer, expression body or attribute.</summary>
    private static bool CodeContains(SyntaxNode declaration, int position) => declaration switch
    {
        BaseMethodDeclarationSyntax m => Contains(m.Body, position) || Contains(m.ExpressionBody, position) || Contains((m as ConstructorDeclarationSyntax)?.Initializer, position),
        AccessorDeclarationSyntax a => Contains(a.Body, position) || Contains(a.ExpressionBody, position),
        _ => declaration.Span.Contains(position),
    };

    private static bool Contains(SyntaxNode? code, int position) => code is not null && code.Span.Contains(position);
}
