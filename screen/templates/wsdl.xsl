<?xml version="1.0" encoding="UTF-8"?>
<!-- The WSDL 1.1 as a page: its operations with their messages and headers, then its types.

     An XSLT stylesheet is XML too: each template matches a part of the WSDL and writes the
     HTML for it. screen/pages.py applies it with lxml to wsdl/playlists.wsdl on every request,
     so the page can say nothing the contract does not. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema"
    exclude-result-prefixes="wsdl soap xs">
  <xsl:output method="html" encoding="UTF-8"/>
  <xsl:param name="wsdl_url"/>
  <!-- Where this run's SOAP server listens; the committed WSDL names the default address. -->
  <xsl:param name="endpoint" select="/wsdl:definitions/wsdl:service/wsdl:port/soap:address/@location"/>

  <!-- Look-ups by name. The WSDL refers to its own messages, elements and types by prefixed
       names ("tns:Track"), so every look-up below takes substring-after(..., ':'). -->
  <xsl:key name="message" match="wsdl:message" use="@name"/>
  <xsl:key name="element" match="xs:schema/xs:element" use="@name"/>
  <xsl:key name="complex" match="xs:schema/xs:complexType" use="@name"/>
  <xsl:key name="simple" match="xs:schema/xs:simpleType" use="@name"/>
  <xsl:key name="operation" match="wsdl:portType/wsdl:operation" use="@name"/>
  <xsl:key name="header" match="wsdl:binding/wsdl:operation/wsdl:input/soap:header" use="@part"/>

  <xsl:variable name="tns" select="/wsdl:definitions/@targetNamespace"/>
  <xsl:variable name="address" select="$endpoint"/>
  <!-- Each header part once, though every operation's input declares it. -->
  <xsl:variable name="headers" select="/wsdl:definitions/wsdl:binding/wsdl:operation/wsdl:input/soap:header[
      generate-id() = generate-id(key('header', @part)[1])]"/>

  <xsl:template match="/wsdl:definitions">
    <div class="wsdl">
      <h1>SOAP: the <xsl:value-of select="@name"/> service</h1>
      <p class="lead">Rendered from the WSDL by an XSLT stylesheet. Every call is an HTTP POST of a SOAP 1.1
        envelope to the endpoint; the <code>SOAPAction</code> header names the operation. A refused or failed
        call comes back as a SOAP Fault with HTTP 500, its <code>faultcode</code> starting with
        <code>Client</code> (your request) or <code>Server</code> (ours).</p>
      <dl class="facts">
        <dt>Endpoint</dt><dd><code><xsl:value-of select="$address"/></code></dd>
        <dt>Target namespace</dt><dd><code><xsl:value-of select="$tns"/></code></dd>
        <dt>Binding</dt>
        <dd>SOAP 1.1, <xsl:value-of select="wsdl:binding/soap:binding/@style"/>/literal over
          <code><xsl:value-of select="wsdl:binding/soap:binding/@transport"/></code></dd>
        <dt>WSDL</dt><dd><a href="{$wsdl_url}"><xsl:value-of select="$wsdl_url"/></a></dd>
      </dl>

      <nav class="toc" id="contents" aria-label="Operations">
        <xsl:for-each select="wsdl:portType/wsdl:operation">
          <a href="#op-{@name}"><xsl:value-of select="@name"/></a>
        </xsl:for-each>
      </nav>

      <section id="credentials">
        <h2>Credentials in the envelope's Header</h2>
        <p>Each operation's input declares these header elements; send one of them, or WS-Security,
          or call the mutual-TLS port with a client certificate.</p>
        <xsl:apply-templates select="$headers"/>
        <article class="header" id="header-wsse">
          <h3><code>&lt;wsse:Security&gt;</code> with a UsernameToken</h3>
          <p>The OASIS WS-Security header, for a user name and password. Its schema is the standard's, so the
            WSDL does not declare it; the server reads it from the envelope, and accepts
            <code>mustUnderstand="1"</code>.</p>
          <pre><![CDATA[<wsse:Security soap:mustUnderstand="1"
    xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
  <wsse:UsernameToken>
    <wsse:Username>alice</wsse:Username>
    <wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">…</wsse:Password>
  </wsse:UsernameToken>
</wsse:Security>]]></pre>
        </article>
        <xsl:apply-templates select="wsdl:portType/wsdl:operation[1]" mode="example"/>
      </section>

      <section id="operations">
        <h2>Operations</h2>
        <xsl:apply-templates select="wsdl:portType/wsdl:operation"/>
      </section>

      <section id="types">
        <h2>Types</h2>
        <p>The request and response wrappers are shown with their operations above.</p>
        <xsl:for-each select="wsdl:types/xs:schema/xs:complexType[not(key('operation', @name))
            and not(key('operation', substring-before(@name, 'Response')))]">
          <xsl:sort select="@name"/>
          <article class="type" id="type-{@name}">
            <h3><xsl:value-of select="@name"/> <a class="back" href="#contents">↑ contents</a></h3>
            <xsl:apply-templates select="." mode="fields"/>
          </article>
        </xsl:for-each>
        <h3>Simple types</h3>
        <table class="fields">
          <thead><tr><th>Name</th><th>Base</th><th>Constraints</th></tr></thead>
          <tbody>
            <xsl:for-each select="wsdl:types/xs:schema/xs:simpleType">
              <xsl:sort select="@name"/>
              <tr id="type-{@name}">
                <td><code><xsl:value-of select="@name"/></code></td>
                <td><code><xsl:value-of select="xs:restriction/@base"/></code></td>
                <td><xsl:apply-templates select="xs:restriction" mode="facets"/></td>
              </tr>
            </xsl:for-each>
          </tbody>
        </table>
      </section>
    </div>
  </xsl:template>

  <!-- A credential header: message="tns:WhoAmIInHeaderMsg" part="ApiKey" names an element. -->
  <xsl:template match="soap:header">
    <xsl:variable name="element" select="substring-after(key('message', substring-after(@message, ':'))
        /wsdl:part[@name = current()/@part]/@element, ':')"/>
    <xsl:variable name="type" select="substring-after(key('element', $element)/@type, ':')"/>
    <article class="header" id="header-{@part}">
      <h3><code>&lt;tns:<xsl:value-of select="$element"/>&gt;</code></h3>
      <p>Of type <a href="#type-{$type}"><xsl:value-of select="$type"/></a>: the element's text is the value.</p>
      <pre>&lt;tns:<xsl:value-of select="$element"/> xmlns:tns="<xsl:value-of select="$tns"/>"&gt;…&lt;/tns:<xsl:value-of
          select="$element"/>&gt;</pre>
    </article>
  </xsl:template>

  <!-- What a whole call looks like, built from the first operation and the first header. -->
  <xsl:template match="wsdl:operation" mode="example">
    <xsl:variable name="header" select="substring-after(key('message', substring-after($headers[1]/@message, ':'))
        /wsdl:part[@name = $headers[1]/@part]/@element, ':')"/>
    <xsl:variable name="body"
        select="substring-after(key('message', substring-after(wsdl:input/@message, ':'))/wsdl:part/@element, ':')"/>
    <xsl:variable name="action"
        select="/wsdl:definitions/wsdl:binding/wsdl:operation[@name = current()/@name]/soap:operation/@soapAction"/>
    <article class="header" id="example">
      <h3>A whole call: <xsl:value-of select="@name"/></h3>
      <pre>POST <xsl:value-of select="$address"/>
Content-Type: text/xml; charset=utf-8
SOAPAction: "<xsl:value-of select="$action"/>"

&lt;soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tns="<xsl:value-of select="$tns"/>"&gt;
  &lt;soap:Header&gt;&lt;tns:<xsl:value-of select="$header"/>&gt;…&lt;/tns:<xsl:value-of select="$header"/>&gt;&lt;/soap:Header&gt;
  &lt;soap:Body&gt;&lt;tns:<xsl:value-of select="$body"/>/&gt;&lt;/soap:Body&gt;
&lt;/soap:Envelope&gt;</pre>
    </article>
  </xsl:template>

  <xsl:template match="wsdl:portType/wsdl:operation">
    <xsl:variable name="binding" select="/wsdl:definitions/wsdl:binding/wsdl:operation[@name = current()/@name]"/>
    <article class="operation" id="op-{@name}">
      <h3><xsl:value-of select="@name"/> <a class="back" href="#contents">↑ contents</a></h3>
      <p><xsl:value-of select="wsdl:documentation"/></p>
      <dl class="facts">
        <dt>SOAPAction</dt><dd><code><xsl:value-of select="$binding/soap:operation/@soapAction"/></code></dd>
        <dt>Headers</dt>
        <dd>
          <xsl:for-each select="$binding/wsdl:input/soap:header">
            <a href="#header-{@part}"><xsl:value-of select="@part"/></a>
            <xsl:text>, </xsl:text>
          </xsl:for-each>
          <a href="#header-wsse">WS-Security</a>
        </dd>
      </dl>
      <div class="messages">
        <xsl:apply-templates select="wsdl:input | wsdl:output"/>
      </div>
      <xsl:apply-templates select="." mode="sample"/>
    </article>
  </xsl:template>

  <!-- A sample envelope for one operation: its request element with every field, filled with
       values from the catalog where the field is one a learner would type. -->
  <xsl:template match="wsdl:operation" mode="sample">
    <xsl:variable name="header" select="substring-after(key('message', substring-after($headers[1]/@message, ':'))
        /wsdl:part[@name = $headers[1]/@part]/@element, ':')"/>
    <xsl:variable name="body"
        select="substring-after(key('message', substring-after(wsdl:input/@message, ':'))/wsdl:part/@element, ':')"/>
    <xsl:variable name="fields" select="key('complex', substring-after(key('element', $body)/@type, ':'))
        /xs:sequence/xs:element[@name != 'page_token']"/>
    <details class="sample">
      <summary>A sample envelope for <xsl:value-of select="@name"/></summary>
      <pre>&lt;soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tns="<xsl:value-of select="$tns"/>"&gt;
  &lt;soap:Header&gt;&lt;tns:<xsl:value-of select="$header"/>&gt;…&lt;/tns:<xsl:value-of select="$header"/>&gt;&lt;/soap:Header&gt;
  &lt;soap:Body&gt;
    <xsl:choose>
      <xsl:when test="$fields">&lt;tns:<xsl:value-of select="$body"/>&gt;<xsl:apply-templates select="$fields"
          mode="sample"><xsl:with-param name="indent" select="'      '"/></xsl:apply-templates>
    &lt;/tns:<xsl:value-of select="$body"/>&gt;</xsl:when>
      <xsl:otherwise>&lt;tns:<xsl:value-of select="$body"/>/&gt;</xsl:otherwise>
    </xsl:choose>
  &lt;/soap:Body&gt;
&lt;/soap:Envelope&gt;</pre>
    </details>
  </xsl:template>

  <xsl:template match="xs:element" mode="sample">
    <xsl:param name="indent"/>
    <xsl:variable name="inner" select="key('complex', substring-after(@type, ':'))/xs:sequence/xs:element"/>
    <xsl:text>&#10;</xsl:text><xsl:value-of select="$indent"/>&lt;tns:<xsl:value-of select="@name"/>&gt;<xsl:choose>
      <xsl:when test="$inner">
        <xsl:apply-templates select="$inner" mode="sample">
          <xsl:with-param name="indent" select="concat($indent, '  ')"/>
        </xsl:apply-templates>
        <xsl:text>&#10;</xsl:text><xsl:value-of select="$indent"/>
      </xsl:when>
      <xsl:when test="@name = 'mood'">calm</xsl:when>
      <xsl:when test="@name = 'era'">Baroque</xsl:when>
      <xsl:when test="@name = 'composer'">Bach</xsl:when>
      <xsl:when test="@name = 'text'">air</xsl:when>
      <xsl:when test="@name = 'track_id'">bach-bwv1068-air</xsl:when>
      <xsl:when test="@name = 'id' or @name = 'playlist_id'">pl_8kQ2vX7nRb</xsl:when>
      <xsl:when test="@name = 'name'">Evening calm</xsl:when>
      <xsl:when test="@name = 'page_size'">10</xsl:when>
      <xsl:when test="@name = 'duration_minutes'">30</xsl:when>
      <xsl:when test="@name = 'position' or @name = 'version'">1</xsl:when>
      <xsl:when test="@name = 'message'">hello</xsl:when>
      <xsl:otherwise>…</xsl:otherwise>
    </xsl:choose>&lt;/tns:<xsl:value-of select="@name"/>&gt;</xsl:template>

  <xsl:template match="wsdl:input | wsdl:output">
    <xsl:variable name="element"
        select="substring-after(key('message', substring-after(@message, ':'))/wsdl:part/@element, ':')"/>
    <div class="message">
      <h4>
        <xsl:choose>
          <xsl:when test="self::wsdl:input">Request</xsl:when>
          <xsl:otherwise>Response</xsl:otherwise>
        </xsl:choose>
        <xsl:text> </xsl:text><code>&lt;tns:<xsl:value-of select="$element"/>&gt;</code>
      </h4>
      <xsl:apply-templates select="key('complex', substring-after(key('element', $element)/@type, ':'))" mode="fields"/>
    </div>
  </xsl:template>

  <xsl:template match="xs:complexType" mode="fields">
    <xsl:choose>
      <xsl:when test="xs:sequence/xs:element">
        <table class="fields">
          <thead><tr><th>Element</th><th>Type</th><th>Occurs</th><th>Notes</th></tr></thead>
          <tbody><xsl:apply-templates select="xs:sequence/xs:element" mode="field"/></tbody>
        </table>
      </xsl:when>
      <xsl:when test="xs:simpleContent">
        <p class="none">Text content of type <code><xsl:value-of select="xs:simpleContent/*/@base"/></code>.</p>
      </xsl:when>
      <xsl:otherwise><p class="none">No elements.</p></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="xs:element" mode="field">
    <xsl:variable name="type" select="substring-after(@type, ':')"/>
    <tr>
      <td><code><xsl:value-of select="@name"/></code></td>
      <td>
        <xsl:choose>
          <xsl:when test="starts-with(@type, 'xs:')"><code><xsl:value-of select="@type"/></code></xsl:when>
          <xsl:otherwise><a href="#type-{$type}"><xsl:value-of select="$type"/></a></xsl:otherwise>
        </xsl:choose>
      </td>
      <td>
        <xsl:choose>
          <xsl:when test="@maxOccurs = 'unbounded'">list</xsl:when>
          <xsl:when test="@maxOccurs &gt; 1">list of up to <xsl:value-of select="@maxOccurs"/></xsl:when>
          <xsl:when test="@minOccurs = '0'">optional</xsl:when>
          <xsl:otherwise>required</xsl:otherwise>
        </xsl:choose>
      </td>
      <td>
        <xsl:value-of select="xs:annotation/xs:documentation"/>
        <xsl:if test="xs:annotation/xs:documentation and key('simple', $type)"><xsl:text> </xsl:text></xsl:if>
        <xsl:apply-templates select="key('simple', $type)/xs:restriction | xs:simpleType/xs:restriction" mode="facets"/>
      </td>
    </tr>
  </xsl:template>

  <xsl:template match="xs:restriction" mode="facets">
    <span class="facets">
      <xsl:for-each select="*">
        <xsl:if test="position() &gt; 1">, </xsl:if>
        <xsl:choose>
          <xsl:when test="self::xs:minLength">at least <xsl:value-of select="@value"/> characters</xsl:when>
          <xsl:when test="self::xs:maxLength">at most <xsl:value-of select="@value"/> characters</xsl:when>
          <xsl:when test="self::xs:minInclusive">≥ <xsl:value-of select="@value"/></xsl:when>
          <xsl:when test="self::xs:maxInclusive">≤ <xsl:value-of select="@value"/></xsl:when>
          <xsl:when test="self::xs:pattern">matches <code><xsl:value-of select="@value"/></code></xsl:when>
          <xsl:when test="self::xs:enumeration"><code><xsl:value-of select="@value"/></code></xsl:when>
          <xsl:otherwise><xsl:value-of select="local-name()"/><xsl:text> </xsl:text><xsl:value-of
              select="@value"/></xsl:otherwise>
        </xsl:choose>
      </xsl:for-each>
    </span>
  </xsl:template>
</xsl:stylesheet>
